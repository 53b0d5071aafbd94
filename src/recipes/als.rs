//! Implicit-feedback matrix factorisation (ALS with conjugate gradient), the `als` recipe's trainer.
//!
//! # Model
//!
//! Hu, Koren & Volinsky (2008), "Collaborative Filtering for Implicit Feedback Datasets". Every
//! (user u, item i) pair has a *preference* `p_ui = 1` if the pair was observed (positive summed
//! strength `r_ui`, e.g. a count of plays) and `0` otherwise, and a *confidence* `c_ui = 1 + α·r_ui`
//! (so `c_ui = 1` for unobserved pairs). We learn a user vector `x_u` and an item vector `y_i`, both
//! `factors` long, minimising over **all** users × items pairs, observed or not,
//!
//! ```text
//! L = Σ_u Σ_i c_ui (p_ui − x_uᵀ y_i)²  +  λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)
//! ```
//!
//! The score of item i for user u is `x_uᵀ y_i`; [`AlsModel::loss`] computes `L`.
//!
//! # Solver
//!
//! Alternating least squares: with the item matrix `Y` fixed, each user's vector is the solution of
//! the f×f normal equations
//!
//! ```text
//! (YᵀY + Yᵀ(C_u − I)Y + λI) x_u = Yᵀ C_u p(u)
//! ```
//!
//! and symmetrically for items with the user matrix fixed; one *iteration* solves all users, then all
//! items. Hu et al.'s trick makes this cheap: `YᵀY` is shared by every user (computed once per half
//! sweep), and `C_u − I` and `p(u)` are non-zero only on the user's `n_u` observed items.
//!
//! # Why conjugate gradient
//!
//! Forming and factorising each user's matrix costs `O(n_u f² + f³)`. Takács, Pilászy & Tikk (2011),
//! "Applications of the conjugate gradient method for implicit feedback collaborative filtering",
//! observed that the matrix is never needed: CG only needs products
//! `A v = YᵀY v + λ v + Σ_{i ∈ u} (c_ui − 1)(y_iᵀ v) y_i`, which cost `O(f² + n_u f)`, and the previous
//! sweep's `x_u` is an excellent starting point, so a few steps (`cg_steps`, 3 by default) per sweep
//! suffice — this is the `implicit` library's default solver. CG started at `x₀` minimises the
//! quadratic over `x₀ +` the Krylov space, which contains `x₀`, so even a partial solve never increases
//! the user's (item's) term of `L`: the loss decreases monotonically over iterations.
//!
//! [`AlsModel::fold_in`] (one user against fixed items, no warm start) instead forms the f×f system and
//! solves it **exactly** with a Cholesky factorisation, using the cached `YᵀY`.
//!
//! # Threads and determinism
//!
//! Each half sweep splits the rows into `threads` contiguous ranges of roughly equal work and solves
//! them with [`std::thread::scope`]. A row's solve reads only the fixed side and its own previous
//! vector, and `YᵀY` is summed over fixed blocks in a fixed order, so the factors depend only on the
//! data and the parameters — for a given seed they are bit-for-bit identical for any thread count.
//! Storage is `f32`; solves, Gram matrices and the loss accumulate in `f64`.

use std::borrow::Cow;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Residual norm² below which CG stops (as in `implicit`).
const CG_EPS: f64 = 1e-20;

/// Salts separating the random streams of the user and item tables.
const USER_SALT: u64 = 0x5553_4552_5f41_4c53; // "USER_ALS"
const ITEM_SALT: u64 = 0x4954_454d_5f41_4c53; // "ITEM_ALS"

/// Hyperparameters of implicit ALS. Missing fields deserialise to their defaults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AlsParams {
    /// Number of latent factors `f` (length of every vector). Default 64.
    pub factors: usize,
    /// L2 regularisation λ on every user and item vector. Default 0.01. Negative or non-finite
    /// values are treated as 0.
    pub regularization: f32,
    /// Confidence scale α: an observed pair with strength `r` has confidence `1 + α·r`. Default 10.0.
    /// Negative or non-finite values are treated as 0.
    pub alpha: f32,
    /// Alternating sweeps (all users, then all items) per `train` / `retrain`. Default 15.
    pub iterations: usize,
    /// Conjugate-gradient steps per vector per sweep, warm-started from the current vector. Default 3.
    pub cg_steps: usize,
    /// Seed of the random initial factors. Default 42.
    pub seed: u64,
    /// Worker threads for a sweep (0 is treated as 1). Default 2. The result does not depend on it.
    pub threads: usize,
}

impl AlsParams {
    /// The parameters the als recipe's resolved hyperparameters ask for (the rest at their defaults).
    pub fn from_recipe(values: &crate::recipes::HyperValues) -> AlsParams {
        AlsParams {
            factors: values.number("factors") as usize,
            regularization: values.number("regularization") as f32,
            alpha: values.number("alpha") as f32,
            iterations: values.number("iterations") as usize,
            ..Default::default()
        }
    }
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams { factors: 64, regularization: 0.01, alpha: 10.0, iterations: 15, cg_steps: 3, seed: 42, threads: 2 }
    }
}

/// Sparse implicit feedback: for each user the (item, strength) pairs, strength ≥ 0 (e.g. counts);
/// duplicates summed.
///
/// Users and items are dense ids `0..users()` / `0..items()`; [`Interactions::add`] grows either
/// dimension when given a larger id. Call [`Interactions::finalize`] after adding: it sorts each user's
/// list, sums duplicate pairs, drops pairs whose total strength is not positive, and builds the
/// item → users transpose. Training accepts unfinalised data too (it finalises a private copy).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interactions {
    by_user: Vec<Vec<(u32, f32)>>,
    by_item: Vec<Vec<(u32, f32)>>,
    items: usize,
    finalized: bool,
}

impl Interactions {
    /// An empty data set of `users` × `items` (already finalised).
    pub fn new(users: usize, items: usize) -> Self {
        Interactions { by_user: vec![Vec::new(); users], by_item: vec![Vec::new(); items], items, finalized: true }
    }

    /// Records that `user` interacted with `item` with this strength (added to any earlier strength of
    /// the same pair at [`finalize`](Self::finalize)). Non-finite strengths are ignored; negative ones
    /// are summed (a retraction) and the pair is dropped if its total is not positive. Ids beyond the
    /// current dimensions grow them.
    pub fn add(&mut self, user: u32, item: u32, strength: f32) {
        if !strength.is_finite() {
            return;
        }
        let u = user as usize;
        if u >= self.by_user.len() {
            self.by_user.resize_with(u + 1, Vec::new);
        }
        self.items = self.items.max(item as usize + 1);
        self.by_user[u].push((item, strength));
        self.finalized = false;
    }

    /// Number of users (rows).
    pub fn users(&self) -> usize {
        self.by_user.len()
    }

    /// Number of items (columns).
    pub fn items(&self) -> usize {
        self.items
    }

    /// A user's (item, strength) pairs; after [`finalize`](Self::finalize) sorted by item with
    /// duplicates summed (before it, as added). Empty for an unknown user.
    pub fn user_items(&self, user: u32) -> &[(u32, f32)] {
        self.by_user.get(user as usize).map_or(&[], |row| row.as_slice())
    }

    /// An item's (user, strength) pairs sorted by user, from the transpose built by
    /// [`finalize`](Self::finalize) (empty before the first finalize and for unknown items).
    pub fn item_users(&self, item: u32) -> &[(u32, f32)] {
        self.by_item.get(item as usize).map_or(&[], |row| row.as_slice())
    }

    /// Number of stored (user, item) pairs (distinct pairs after finalize).
    pub fn nnz(&self) -> usize {
        self.by_user.iter().map(Vec::len).sum()
    }

    /// Whether nothing was added since the last [`finalize`](Self::finalize).
    pub fn is_finalized(&self) -> bool {
        self.finalized
    }

    /// Sorts each user's pairs by item, sums duplicates (in insertion order), drops pairs whose total
    /// is not a positive finite number, and builds the item → users transpose.
    pub fn finalize(&mut self) {
        if self.finalized && self.by_item.len() == self.items {
            return;
        }
        for row in &mut self.by_user {
            merge_pairs(row);
        }
        let mut counts = vec![0usize; self.items];
        for &(i, _) in self.by_user.iter().flatten() {
            counts[i as usize] += 1;
        }
        let mut by_item: Vec<Vec<(u32, f32)>> = counts.into_iter().map(Vec::with_capacity).collect();
        for (u, row) in self.by_user.iter().enumerate() {
            for &(i, s) in row {
                by_item[i as usize].push((u as u32, s));
            }
        }
        self.by_item = by_item;
        self.finalized = true;
    }
}

/// Sorts by id (stably), sums duplicates and keeps positive finite totals.
fn merge_pairs(row: &mut Vec<(u32, f32)>) {
    row.sort_by_key(|&(i, _)| i);
    row.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 += later.1;
            true
        } else {
            false
        }
    });
    row.retain(|&(_, s)| s > 0.0 && s.is_finite());
}

/// The data finalised: borrowed if it already is, else a finalised copy.
fn prepared(data: &Interactions) -> Cow<'_, Interactions> {
    if data.finalized && data.by_item.len() == data.items {
        Cow::Borrowed(data)
    } else {
        let mut copy = data.clone();
        copy.finalize();
        Cow::Owned(copy)
    }
}

/// Trained factors.
///
/// `user_factors` and `item_factors` are public for persistence; their lengths must stay
/// `users() × factors()` and `items() × factors()`. After changing `item_factors` directly call
/// [`AlsModel::refresh_cache`] (fold-in uses a cached `YᵀY`).
#[derive(Clone)]
pub struct AlsModel {
    /// The parameters the model was trained with (`retrain` uses them again).
    pub params: AlsParams,
    /// User vectors, `users × factors` row-major.
    pub user_factors: Vec<f32>,
    /// Item vectors, `items × factors` row-major.
    pub item_factors: Vec<f32>,
    /// Row counts (needed when `factors == 0`).
    n_users: usize,
    n_items: usize,
    /// Cached `YᵀY` (f × f, full symmetric) of `item_factors`.
    gram: Vec<f64>,
}

impl std::fmt::Debug for AlsModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlsModel")
            .field("params", &self.params)
            .field("users", &self.users())
            .field("items", &self.items())
            .finish_non_exhaustive()
    }
}

impl AlsModel {
    /// Trains from scratch: random initial factors from `params.seed`, then `params.iterations`
    /// sweeps. The model has `data.users()` users and `data.items()` items.
    pub fn train(data: &Interactions, params: &AlsParams) -> AlsModel {
        let mut model = AlsModel {
            params: params.clone(),
            user_factors: Vec::new(),
            item_factors: Vec::new(),
            n_users: 0,
            n_items: 0,
            gram: Vec::new(),
        };
        model.iterate(data, params.iterations);
        model
    }

    /// Continues training (warm start) on new data with possibly more users/items (new rows initialised
    /// like train does) — the background retraining. Runs `params.iterations` sweeps from the current
    /// factors; users/items of the model absent from `data` are treated as having no interactions.
    pub fn retrain(&self, data: &Interactions) -> AlsModel {
        let mut model = self.clone();
        model.iterate(data, self.params.iterations);
        model
    }

    /// Runs `iterations` more sweeps in place on `data`, first growing the tables to `data`'s
    /// dimensions (new rows get the same random values `train` would give them), then refreshes the
    /// cached `YᵀY`. `iterate(data, 1)` repeatedly is the same as training with more iterations.
    pub fn iterate(&mut self, data: &Interactions, iterations: usize) {
        let data = prepared(data);
        self.grow(data.users(), data.items());
        let f = self.factors();
        let cfg = SolveCfg::new(&self.params);
        if f > 0 {
            for _ in 0..iterations {
                solve_side(&mut self.user_factors, &data.by_user, &self.item_factors, f, &cfg);
                solve_side(&mut self.item_factors, &data.by_item, &self.user_factors, f, &cfg);
            }
        }
        self.refresh_cache();
    }

    /// Builds a model from stored factors (e.g. a snapshot). `None` unless both lengths are multiples
    /// of `params.factors` (both empty when it is 0).
    pub fn from_factors(params: AlsParams, user_factors: Vec<f32>, item_factors: Vec<f32>) -> Option<AlsModel> {
        let f = params.factors;
        let fits = |v: &[f32]| v.len().is_multiple_of(f);
        if !fits(&user_factors) || !fits(&item_factors) {
            return None;
        }
        let (n_users, n_items) =
            (user_factors.len().checked_div(f).unwrap_or(0), item_factors.len().checked_div(f).unwrap_or(0));
        let mut model = AlsModel { params, user_factors, item_factors, n_users, n_items, gram: Vec::new() };
        model.refresh_cache();
        Some(model)
    }

    /// Recomputes the cached `YᵀY` used by [`fold_in`](Self::fold_in) (needed only after changing
    /// `item_factors` directly).
    pub fn refresh_cache(&mut self) {
        self.gram = compute_gram(&self.item_factors, self.factors(), self.params.threads);
    }

    /// Grows the tables to at least `users` × `items` rows, new rows initialised as `train` does.
    fn grow(&mut self, users: usize, items: usize) {
        let f = self.factors();
        let seed = self.params.seed;
        let (old_users, old_items) = (self.users(), self.items());
        if users > old_users {
            self.user_factors.extend(init_rows(seed, USER_SALT, old_users, users, f));
            self.n_users = users;
        }
        if items > old_items {
            self.item_factors.extend(init_rows(seed, ITEM_SALT, old_items, items, f));
            self.n_items = items;
        }
    }

    /// Folds in one user: solves the user's vector against the fixed item factors from their
    /// (item, strength) list and returns it. The solve is **exact** least squares (Cholesky of the
    /// f × f system `YᵀY + λI + Σ α·r_i y_i y_iᵀ`, built from the cached `YᵀY`), i.e. the vector
    /// training would converge to for this user with these items; it falls back to CG from zero with `2·max(f, 5)` steps
    /// only if the matrix is numerically not positive definite. Duplicate items are summed as
    /// [`Interactions`] does; items unknown to the model (id ≥ items) and pairs with a non-positive
    /// or non-finite total are ignored. An empty list gives the zero vector.
    pub fn fold_in(&self, items: &[(u32, f32)]) -> Vec<f32> {
        let f = self.factors();
        let n_items = self.items();
        let mut pairs: Vec<(u32, f32)> =
            items.iter().copied().filter(|&(i, s)| (i as usize) < n_items && s.is_finite()).collect();
        merge_pairs(&mut pairs);
        if f == 0 || pairs.is_empty() {
            return vec![0.0; f];
        }
        let cfg = SolveCfg::new(&self.params);
        let gram_reg = regularized(&self.gram, f, cfg.reg);
        let mut a = gram_reg.clone();
        let mut b = vec![0.0f64; f];
        let mut y64 = vec![0.0f64; f];
        for &(i, s) in &pairs {
            let y = &self.item_factors[i as usize * f..(i as usize + 1) * f];
            for (d, &v) in y64.iter_mut().zip(y) {
                *d = f64::from(v);
            }
            let cm1 = cfg.alpha * f64::from(s);
            axpy(1.0 + cm1, &y64, &mut b);
            // Lower triangle only: Cholesky reads nothing else.
            for (r, &yr) in y64.iter().enumerate() {
                let w = cm1 * yr;
                if w != 0.0 {
                    axpy(w, &y64[..=r], &mut a[r * f..r * f + r + 1]);
                }
            }
        }
        let mut x = b.clone();
        if !cholesky_solve(&mut a, f, &mut x) {
            let system = System { gram_reg: &gram_reg, source: &self.item_factors, f, alpha: cfg.alpha };
            let mut scratch = Scratch::new(f);
            x.iter_mut().for_each(|v| *v = 0.0);
            system.cg(&pairs, &mut x, 2 * f.max(5), &mut scratch);
        }
        let out: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        if out.iter().all(|v| v.is_finite()) {
            out
        } else {
            vec![0.0; f]
        }
    }

    /// Sets/replaces a user's vector (grows the table if needed; rows skipped over become zero
    /// vectors). A vector of the wrong length is truncated or zero-padded to `factors()`.
    pub fn set_user(&mut self, user: u32, mut vector: Vec<f32>) {
        let f = self.factors();
        vector.resize(f, 0.0);
        let u = user as usize;
        if u >= self.users() {
            self.user_factors.resize((u + 1) * f, 0.0);
            self.n_users = u + 1;
        }
        self.user_factors[u * f..(u + 1) * f].copy_from_slice(&vector);
    }

    /// Scores of every item for a vector (dot products with each item vector), indexed by item id.
    /// A vector shorter than `factors()` is treated as zero-padded.
    pub fn score_all(&self, vector: &[f32]) -> Vec<f32> {
        let f = self.factors();
        if f == 0 {
            return vec![0.0; self.items()];
        }
        self.item_factors.chunks_exact(f).map(|y| dot_f32(y, vector)).collect()
    }

    /// The top-`n` items by score for a vector, best first, skipping items for which `exclude`
    /// returns true; ties go to the lower id, NaN scores rank last.
    pub fn top_n(&self, vector: &[f32], n: usize, exclude: &dyn Fn(u32) -> bool) -> Vec<(u32, f32)> {
        if n == 0 {
            return Vec::new();
        }
        let mut candidates: Vec<(u32, f32)> = self
            .score_all(vector)
            .into_iter()
            .enumerate()
            .map(|(i, s)| (i as u32, s))
            .filter(|&(i, _)| !exclude(i))
            .collect();
        let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s + 0.0 };
        let order = |a: &(u32, f32), b: &(u32, f32)| key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0));
        if candidates.len() > n {
            candidates.select_nth_unstable_by(n - 1, order);
            candidates.truncate(n);
        }
        candidates.sort_unstable_by(order);
        candidates
    }

    /// A user's trained (or set) vector; `None` for an unknown user.
    pub fn user_vector(&self, user: u32) -> Option<&[f32]> {
        let f = self.factors();
        let u = user as usize;
        (u < self.users()).then(|| &self.user_factors[u * f..(u + 1) * f])
    }

    /// An item's vector; `None` for an unknown item.
    pub fn item_vector(&self, item: u32) -> Option<&[f32]> {
        let f = self.factors();
        let i = item as usize;
        (i < self.items()).then(|| &self.item_factors[i * f..(i + 1) * f])
    }

    /// Number of items.
    pub fn items(&self) -> usize {
        match self.factors() {
            0 => self.n_items,
            f => self.item_factors.len() / f,
        }
    }

    /// Number of users.
    pub fn users(&self) -> usize {
        match self.factors() {
            0 => self.n_users,
            f => self.user_factors.len() / f,
        }
    }

    /// Number of latent factors (vector length).
    pub fn factors(&self) -> usize {
        self.params.factors
    }

    /// Training loss (weighted squared error + regularisation), for tests and progress:
    /// `Σ_{u,i} c_ui (p_ui − x_uᵀy_i)² + λ(Σ‖x_u‖² + Σ‖y_i‖²)` over all of the model's users × items,
    /// computed in `O(users·f² + nnz·f)` via `Σ_i (x_uᵀy_i)² = x_uᵀ(YᵀY)x_u`. Pairs of `data` outside the
    /// model are ignored.
    pub fn loss(&self, data: &Interactions) -> f64 {
        let data = prepared(data);
        let f = self.factors();
        let cfg = SolveCfg::new(&self.params);
        if f == 0 {
            // Every prediction is 0: each observed pair costs its confidence.
            let n_items = self.items();
            return (0..self.users().min(data.users()))
                .flat_map(|u| data.by_user[u].iter())
                .filter(|&&(i, _)| (i as usize) < n_items)
                .map(|&(_, s)| 1.0 + cfg.alpha * f64::from(s))
                .sum();
        }
        let gram = compute_gram(&self.item_factors, f, self.params.threads);
        let mut x64 = vec![0.0f64; f];
        let mut gx = vec![0.0f64; f];
        let mut total = 0.0f64;
        for (u, x) in self.user_factors.chunks_exact(f).enumerate() {
            for (d, &v) in x64.iter_mut().zip(x) {
                *d = f64::from(v);
            }
            matvec(&gram, &x64, &mut gx);
            total += dot(&x64, &gx);
            for &(i, s) in data.by_user.get(u).map_or(&[][..], |r| r.as_slice()) {
                if let Some(y) = self.item_factors.get(i as usize * f..(i as usize + 1) * f) {
                    let pred = dot_mixed(y, &x64);
                    let c = 1.0 + cfg.alpha * f64::from(s);
                    total += c * (1.0 - pred) * (1.0 - pred) - pred * pred;
                }
            }
        }
        let norm2 = |v: &[f32]| v.iter().map(|&a| f64::from(a) * f64::from(a)).sum::<f64>();
        total + cfg.reg * (norm2(&self.user_factors) + norm2(&self.item_factors))
    }
}

/// Sanitised solver settings.
#[derive(Clone, Copy, Debug)]
struct SolveCfg {
    alpha: f64,
    reg: f64,
    steps: usize,
    threads: usize,
}

impl SolveCfg {
    fn new(p: &AlsParams) -> Self {
        let clean = |v: f32| if v.is_finite() && v > 0.0 { f64::from(v) } else { 0.0 };
        SolveCfg { alpha: clean(p.alpha), reg: clean(p.regularization), steps: p.cg_steps, threads: p.threads.max(1) }
    }
}

/// Initial rows `start..end` of a table: uniform in ±0.01/√f, each row from its own seeded stream so a
/// row's value does not depend on the table's size (retrain initialises new rows exactly as train).
fn init_rows(seed: u64, salt: u64, start: usize, end: usize, f: usize) -> Vec<f32> {
    let scale = 0.01 / (f.max(1) as f32).sqrt();
    let mut out = Vec::with_capacity(end.saturating_sub(start) * f);
    for row in start..end {
        let mut rng = StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(salt.wrapping_add(row as u64))));
        out.extend((0..f).map(|_| rng.gen_range(-scale..=scale)));
    }
    out
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `YᵀY` (f × f, full symmetric, f64) of a row-major table. Rows are summed in fixed blocks whose
/// partial sums are added in block order, so the result is the same for any thread count.
fn compute_gram(table: &[f32], f: usize, threads: usize) -> Vec<f64> {
    if f == 0 {
        return Vec::new();
    }
    let n = table.len() / f;
    // At most ~8 MiB of partial sums, at most 64 blocks, at least 256 rows a block.
    let max_blocks = ((8 << 20) / (8 * f * f)).clamp(1, 64);
    let block = n.div_ceil(max_blocks).max(256);
    let blocks = n.div_ceil(block);
    let partial = |b: usize| -> Vec<f64> {
        let mut g = vec![0.0f64; f * f];
        let mut y64 = vec![0.0f64; f];
        let rows = &table[b * block * f..((b + 1) * block).min(n) * f];
        for y in rows.chunks_exact(f) {
            for (d, &v) in y64.iter_mut().zip(y) {
                *d = f64::from(v);
            }
            for (r, &yr) in y64.iter().enumerate() {
                if yr != 0.0 {
                    axpy(yr, &y64[r..], &mut g[r * f + r..(r + 1) * f]);
                }
            }
        }
        g
    };
    let threads = threads.clamp(1, blocks.max(1));
    let partials: Vec<Vec<f64>> = if threads == 1 {
        (0..blocks).map(partial).collect()
    } else {
        let per = blocks.div_ceil(threads);
        let partial = &partial;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per).min(blocks)..((t + 1) * per).min(blocks);
                    scope.spawn(move || range.map(partial).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("gram worker panicked")).collect()
        })
    };
    let mut g = vec![0.0f64; f * f];
    for p in &partials {
        for (a, &b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    for r in 0..f {
        for c in 0..r {
            g[r * f + c] = g[c * f + r];
        }
    }
    g
}

/// `gram + λI` (or `λI` if the gram is missing, e.g. no items).
fn regularized(gram: &[f64], f: usize, reg: f64) -> Vec<f64> {
    let mut a = if gram.len() == f * f { gram.to_vec() } else { vec![0.0; f * f] };
    for d in 0..f {
        a[d * f + d] += reg;
    }
    a
}

/// One half sweep: re-solves every row of `target` against the fixed `source` table, warm-started.
/// `rows[k]` are row k's (source id, strength) pairs; rows past `rows.len()` have none.
fn solve_side(target: &mut [f32], rows: &[Vec<(u32, f32)>], source: &[f32], f: usize, cfg: &SolveCfg) {
    let n = target.len() / f;
    if n == 0 {
        return;
    }
    let gram_reg = regularized(&compute_gram(source, f, cfg.threads), f, cfg.reg);
    let system = System { gram_reg: &gram_reg, source, f, alpha: cfg.alpha };
    let entries = |k: usize| rows.get(k).map_or(&[][..], |r| r.as_slice());
    let work = |chunk: &mut [f32], first: usize| {
        let mut scratch = Scratch::new(f);
        let mut x = vec![0.0f64; f];
        for (k, row) in chunk.chunks_exact_mut(f).enumerate() {
            for (d, &v) in x.iter_mut().zip(row.iter()) {
                *d = f64::from(v);
            }
            system.cg(entries(first + k), &mut x, cfg.steps, &mut scratch);
            if x.iter().all(|v| v.is_finite()) {
                for (d, &v) in row.iter_mut().zip(&x) {
                    *d = v as f32;
                }
            }
        }
    };
    let threads = cfg.threads.min(n);
    if threads <= 1 {
        work(target, 0);
        return;
    }
    // Split into contiguous ranges of about equal work: a row costs ~f (the YᵀY product) + its entries.
    let cost = |k: usize| f + entries(k).len();
    let total: usize = (0..n).map(cost).sum();
    let mut ends = Vec::with_capacity(threads);
    let mut acc = 0usize;
    for k in 0..n {
        acc += cost(k);
        while ends.len() + 1 < threads && acc * threads >= total * (ends.len() + 1) {
            ends.push(k + 1);
        }
    }
    ends.resize(threads, n);
    let work = &work;
    std::thread::scope(|scope| {
        let mut rest = target;
        let mut start = 0;
        for (t, &end) in ends.iter().enumerate() {
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut((end - start) * f);
            rest = tail;
            let first = start;
            start = end;
            if t + 1 == ends.len() {
                work(chunk, first);
            } else if !chunk.is_empty() {
                scope.spawn(move || work(chunk, first));
            }
        }
    });
}

/// Per-thread CG work vectors.
struct Scratch {
    r: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
}

impl Scratch {
    fn new(f: usize) -> Self {
        Scratch { r: vec![0.0; f], p: vec![0.0; f], ap: vec![0.0; f] }
    }
}

/// One row's system `A x = b` with `A = gram_reg + Σ_i α r_i y_i y_iᵀ`, `b = Σ_i (1 + α r_i) y_i`, where
/// `gram_reg = YᵀY + λI` and the `y_i` are rows of `source`; applied without forming `A`.
struct System<'a> {
    gram_reg: &'a [f64],
    source: &'a [f32],
    f: usize,
    alpha: f64,
}

impl System<'_> {
    fn row(&self, i: u32) -> Option<&[f32]> {
        let i = i as usize;
        self.source.get(i * self.f..(i + 1) * self.f)
    }

    /// `out = b − A x`.
    fn residual(&self, entries: &[(u32, f32)], x: &[f64], out: &mut [f64]) {
        matvec(self.gram_reg, x, out);
        out.iter_mut().for_each(|v| *v = -*v);
        for &(i, s) in entries {
            if let Some(y) = self.row(i) {
                let cm1 = self.alpha * f64::from(s);
                axpy_mixed((1.0 + cm1) - cm1 * dot_mixed(y, x), y, out);
            }
        }
    }

    /// `out = A v`.
    fn apply(&self, entries: &[(u32, f32)], v: &[f64], out: &mut [f64]) {
        matvec(self.gram_reg, v, out);
        for &(i, s) in entries {
            if let Some(y) = self.row(i) {
                axpy_mixed(self.alpha * f64::from(s) * dot_mixed(y, v), y, out);
            }
        }
    }

    /// `steps` conjugate-gradient steps on `A x = b` starting from `x` (the `implicit` library's
    /// `_least_squares_cg` for one row). Never increases `½xᵀAx − bᵀx`.
    fn cg(&self, entries: &[(u32, f32)], x: &mut [f64], steps: usize, s: &mut Scratch) {
        if steps == 0 {
            return;
        }
        self.residual(entries, x, &mut s.r);
        s.p.copy_from_slice(&s.r);
        let mut rs_old = dot(&s.r, &s.r);
        if rs_old.is_nan() || rs_old < CG_EPS {
            return;
        }
        for _ in 0..steps {
            self.apply(entries, &s.p, &mut s.ap);
            let pap = dot(&s.p, &s.ap);
            if !(pap > 0.0 && pap.is_finite()) {
                break;
            }
            let step = rs_old / pap;
            axpy(step, &s.p, x);
            axpy(-step, &s.ap, &mut s.r);
            let rs_new = dot(&s.r, &s.r);
            if rs_new.is_nan() || rs_new < CG_EPS {
                break;
            }
            let beta = rs_new / rs_old;
            for (p, &r) in s.p.iter_mut().zip(&s.r) {
                *p = r + beta * *p;
            }
            rs_old = rs_new;
        }
    }
}

/// In-place Cholesky of the lower triangle of `a` (f × f) and solve of `a x = b` (b overwritten by x).
/// False if `a` is not numerically positive definite.
fn cholesky_solve(a: &mut [f64], f: usize, b: &mut [f64]) -> bool {
    for j in 0..f {
        let (done, rest) = a.split_at_mut(j * f);
        let row_j = &mut rest[..f];
        // Row j of L, columns < j.
        for k in 0..j {
            let row_k = &done[k * f..k * f + f];
            row_j[k] = (row_j[k] - dot(&row_j[..k], &row_k[..k])) / row_k[k];
        }
        let d = row_j[j] - dot(&row_j[..j], &row_j[..j]);
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        row_j[j] = d.sqrt();
    }
    // L z = b.
    for i in 0..f {
        let row = &a[i * f..i * f + f];
        b[i] = (b[i] - dot(&row[..i], &b[..i])) / row[i];
    }
    // Lᵀ x = z.
    for i in (0..f).rev() {
        let mut v = b[i];
        for k in i + 1..f {
            v -= a[k * f + i] * b[k];
        }
        b[i] = v / a[i * f + i];
    }
    b.iter().all(|v| v.is_finite())
}

fn matvec(m: &[f64], x: &[f64], out: &mut [f64]) {
    let f = x.len();
    if f == 0 {
        return;
    }
    for (o, row) in out.iter_mut().zip(m.chunks_exact(f)) {
        *o = dot(row, x);
    }
}

/// Dot product with four independent accumulators (fixed order, so deterministic).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((a, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn dot_mixed(a: &[f32], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((a, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *a += f64::from(x) * y;
        }
    }
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, y)| f64::from(x) * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// f32 dot product (scoring), zero-padding the shorter side.
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((a, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// `y += w·x`.
fn axpy(w: f64, x: &[f64], y: &mut [f64]) {
    for (d, &v) in y.iter_mut().zip(x) {
        *d += w * v;
    }
}

fn axpy_mixed(w: f64, x: &[f32], y: &mut [f64]) {
    for (d, &v) in y.iter_mut().zip(x) {
        *d += w * f64::from(v);
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // dense reference solvers read best with indices
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashSet;

    fn params(factors: usize, iterations: usize) -> AlsParams {
        AlsParams { factors, iterations, ..AlsParams::default() }
    }

    fn random_data(users: usize, items: usize, nnz: usize, seed: u64) -> Interactions {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut data = Interactions::new(users, items);
        for _ in 0..nnz {
            let u = rng.gen_range(0..users as u32);
            let i = rng.gen_range(0..items as u32);
            data.add(u, i, rng.gen_range(1..=5) as f32);
        }
        data.finalize();
        data
    }

    /// Two groups: users < users/2 consume only items < items/2, the others only the upper half.
    fn planted(users: usize, items: usize, per_user: usize, seed: u64) -> Interactions {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut data = Interactions::new(users, items);
        let half = items / 2;
        for u in 0..users {
            let base = if u < users / 2 { 0 } else { half };
            for _ in 0..per_user {
                data.add(u as u32, (base + rng.gen_range(0..half)) as u32, rng.gen_range(1..=3) as f32);
            }
        }
        data.finalize();
        data
    }

    /// Dense Gaussian elimination with partial pivoting.
    fn dense_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for c in 0..n {
            let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
            a.swap(c, p);
            b.swap(c, p);
            for r in c + 1..n {
                let m = a[r][c] / a[c][c];
                for k in c..n {
                    a[r][k] -= m * a[c][k];
                }
                b[r] -= m * b[c];
            }
        }
        let mut x = vec![0.0; n];
        for r in (0..n).rev() {
            let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
            x[r] = (b[r] - s) / a[r][r];
        }
        x
    }

    /// The explicit system `(YᵀCY + λI, YᵀCp)` of one row.
    fn dense_system(y: &[f32], f: usize, entries: &[(u32, f32)], alpha: f64, reg: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let n = y.len() / f;
        let conf: Vec<f64> = (0..n)
            .map(|i| entries.iter().find(|e| e.0 as usize == i).map_or(1.0, |e| 1.0 + alpha * e.1 as f64))
            .collect();
        let pref: Vec<f64> =
            (0..n).map(|i| if entries.iter().any(|e| e.0 as usize == i) { 1.0 } else { 0.0 }).collect();
        let mut a = vec![vec![0.0; f]; f];
        let mut b = vec![0.0; f];
        for i in 0..n {
            let yi = &y[i * f..(i + 1) * f];
            for r in 0..f {
                b[r] += conf[i] * pref[i] * yi[r] as f64;
                for c in 0..f {
                    a[r][c] += conf[i] * yi[r] as f64 * yi[c] as f64;
                }
            }
        }
        for (d, row) in a.iter_mut().enumerate() {
            row[d] += reg;
        }
        (a, b)
    }

    fn top_ids(model: &AlsModel, v: &[f32], n: usize, exclude: &dyn Fn(u32) -> bool) -> Vec<u32> {
        model.top_n(v, n, exclude).into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn cg_matches_dense_solve() {
        let (f, n) = (8usize, 30usize);
        let mut rng = StdRng::seed_from_u64(7);
        let y: Vec<f32> = (0..n * f).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let entries: Vec<(u32, f32)> = (0..n as u32).step_by(3).map(|i| (i, rng.gen_range(0.5..4.0))).collect();
        let (alpha, reg) = (2.0, 0.1);
        let (a, b) = dense_system(&y, f, &entries, alpha, reg);
        let exact = dense_solve(a, b);

        let gram_reg = regularized(&compute_gram(&y, f, 1), f, reg);
        let system = System { gram_reg: &gram_reg, source: &y, f, alpha };
        let mut scratch = Scratch::new(f);
        let mut x: Vec<f64> = (0..f).map(|_| rng.gen_range(-1.0..1.0)).collect();
        // A few steps only improve the objective; enough steps converge.
        let objective = |x: &[f64]| {
            let mut ax = vec![0.0; f];
            system.apply(&entries, x, &mut ax);
            let b: Vec<f64> = {
                let mut r = vec![0.0; f];
                system.residual(&entries, &vec![0.0; f], &mut r);
                r
            };
            0.5 * dot(x, &ax) - dot(&b, x)
        };
        let before = objective(&x);
        system.cg(&entries, &mut x, 3, &mut scratch);
        assert!(objective(&x) <= before);
        system.cg(&entries, &mut x, 4 * f, &mut scratch);
        for (got, want) in x.iter().zip(&exact) {
            assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()), "{got} vs {want}");
        }

        // fold_in solves the same system exactly (Cholesky).
        let p = AlsParams { factors: f, alpha: alpha as f32, regularization: reg as f32, ..AlsParams::default() };
        let model = AlsModel::from_factors(p, Vec::new(), y.clone()).unwrap();
        let folded = model.fold_in(&entries);
        for (got, want) in folded.iter().zip(&exact) {
            assert!((*got as f64 - want).abs() < 1e-3 * (1.0 + want.abs()), "{got} vs {want}");
        }
    }

    #[test]
    fn loss_decreases_monotonically() {
        let data = random_data(60, 45, 500, 3);
        let p = params(8, 0);
        let mut model = AlsModel::train(&data, &p);
        let mut prev = model.loss(&data);
        let first = prev;
        for it in 0..15 {
            model.iterate(&data, 1);
            let loss = model.loss(&data);
            assert!(loss.is_finite());
            assert!(loss <= prev * (1.0 + 1e-6), "iteration {it}: {loss} > {prev}");
            prev = loss;
        }
        assert!(prev < 0.5 * first, "{prev} vs {first}");
        // Training with n iterations is the same as n single steps.
        let direct = AlsModel::train(&data, &params(8, 15));
        assert_eq!(direct.user_factors, model.user_factors);
        assert_eq!(direct.item_factors, model.item_factors);
    }

    #[test]
    fn planted_groups_recommend_their_half() {
        let (users, items) = (40usize, 60usize);
        let data = planted(users, items, 10, 11);
        // Moderate regularisation: with λ ≈ 0 a 40-user data set is fitted with noise.
        let model = AlsModel::train(&data, &AlsParams { regularization: 10.0, ..params(8, 15) });
        for u in 0..users as u32 {
            let seen: HashSet<u32> = data.user_items(u).iter().map(|p| p.0).collect();
            let top = top_ids(&model, model.user_vector(u).unwrap(), 5, &|i| seen.contains(&i));
            assert_eq!(top.len(), 5);
            let lower = (u as usize) < users / 2;
            for i in top {
                assert_eq!((i as usize) < items / 2, lower, "user {u} got item {i}");
            }
        }
    }

    #[test]
    fn fold_in_matches_trained_user() {
        let data = planted(40, 60, 10, 5);
        let model = AlsModel::train(&data, &AlsParams { regularization: 10.0, ..params(8, 15) });
        let mut agree = 0;
        for u in 0..40u32 {
            let trained = model.user_vector(u).unwrap();
            let folded = model.fold_in(data.user_items(u));
            let seen: HashSet<u32> = data.user_items(u).iter().map(|p| p.0).collect();
            let a = top_ids(&model, trained, 5, &|i| seen.contains(&i));
            let b = top_ids(&model, &folded, 5, &|i| seen.contains(&i));
            let overlap = a.iter().filter(|i| b.contains(i)).count();
            assert!(overlap >= 4, "user {u}: {a:?} vs {b:?}");
            agree += usize::from(a[0] == b[0]);
            // And it is the converged solution of the user's ALS system against the final items.
            let f = model.factors();
            let cfg = SolveCfg::new(&model.params);
            let gram_reg = regularized(&model.gram, f, cfg.reg);
            let system = System { gram_reg: &gram_reg, source: &model.item_factors, f, alpha: cfg.alpha };
            let mut x: Vec<f64> = trained.iter().map(|&v| v as f64).collect();
            system.cg(data.user_items(u), &mut x, 100, &mut Scratch::new(f));
            let scale = x.iter().map(|v| v.abs()).fold(0.0, f64::max);
            for (got, want) in folded.iter().zip(&x) {
                assert!((*got as f64 - want).abs() <= 1e-3 * scale.max(1e-3), "{got} vs {want}");
            }
        }
        assert!(agree >= 36, "top-1 agreed for {agree}/40");
    }

    #[test]
    fn deterministic_for_seed_and_threads() {
        let data = random_data(80, 50, 700, 9);
        let p = AlsParams { factors: 12, iterations: 4, ..AlsParams::default() };
        let a = AlsModel::train(&data, &p);
        let b = AlsModel::train(&data, &p);
        assert_eq!(a.user_factors, b.user_factors);
        assert_eq!(a.item_factors, b.item_factors);
        // Stronger: the thread count does not matter either.
        for threads in [1, 3] {
            let c = AlsModel::train(&data, &AlsParams { threads, ..p.clone() });
            assert_eq!(a.user_factors, c.user_factors);
            assert_eq!(a.item_factors, c.item_factors);
        }
        let d = AlsModel::train(&data, &AlsParams { seed: 43, ..p.clone() });
        assert_ne!(a.user_factors, d.user_factors);
    }

    #[test]
    fn interactions_merge_and_transpose() {
        let mut data = Interactions::new(2, 3);
        data.add(0, 2, 1.0);
        data.add(0, 1, 2.0);
        data.add(0, 2, 3.0);
        data.add(1, 0, 1.0);
        data.add(1, 0, -1.0); // retracted
        data.add(3, 4, f32::NAN); // ignored
        data.add(3, 1, 0.0); // zero: dropped, but grows users
        assert!(!data.is_finalized());
        data.finalize();
        assert_eq!((data.users(), data.items()), (4, 3));
        assert_eq!(data.user_items(0), &[(1, 2.0), (2, 4.0)]);
        assert!(data.user_items(1).is_empty() && data.user_items(9).is_empty());
        assert_eq!(data.item_users(2), &[(0, 4.0)]);
        assert_eq!(data.nnz(), 2);
    }

    #[test]
    fn retrain_grows_and_set_user_top_n() {
        let data = random_data(20, 15, 120, 1);
        let p = params(6, 3);
        let model = AlsModel::train(&data, &p);
        let mut more = data.clone();
        more.add(25, 17, 2.0);
        more.finalize();
        let grown = model.retrain(&more);
        assert_eq!((grown.users(), grown.items()), (26, 18));
        // New rows start where train would start them.
        let fresh = AlsModel::train(&more, &AlsParams { iterations: 0, ..p.clone() });
        let zero = AlsModel { params: AlsParams { iterations: 0, ..p.clone() }, ..model.clone() }.retrain(&more);
        assert_eq!(zero.user_factors[20 * 6..], fresh.user_factors[20 * 6..]);
        assert!(grown.user_factors.iter().chain(&grown.item_factors).all(|v| v.is_finite()));

        let mut m = grown.clone();
        m.set_user(30, vec![1.0; 3]);
        assert_eq!(m.users(), 31);
        assert_eq!(m.user_vector(30).unwrap(), &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(m.user_vector(28).unwrap(), &[0.0; 6]);
        assert!(m.user_vector(31).is_none());

        // Ties go to the lower id; exclusion respected; n larger than the catalogue.
        let tie = AlsModel::from_factors(params(1, 0), vec![], vec![1.0, 2.0, 2.0, f32::NAN, -0.0, 0.0]).unwrap();
        let top = tie.top_n(&[1.0], 10, &|i| i == 0);
        let ids: Vec<u32> = top.iter().map(|p| p.0).collect();
        assert_eq!(ids, vec![1, 2, 4, 5, 3]);
        assert_eq!(top_ids(&tie, &[1.0], 2, &|_| false), vec![1, 2]);
        assert!(tie.top_n(&[1.0], 0, &|_| false).is_empty());
    }

    #[test]
    fn empty_data() {
        for (u, i) in [(0, 0), (0, 5), (5, 0), (3, 3)] {
            let data = Interactions::new(u, i);
            let model = AlsModel::train(&data, &params(4, 2));
            assert_eq!((model.users(), model.items()), (u, i));
            assert!(model.loss(&data).is_finite());
            let folded = model.fold_in(&[(0, 1.0), (7, 1.0)]);
            assert!(folded.len() == 4 && folded.iter().all(|v| v.is_finite()));
            assert_eq!(model.fold_in(&[]), vec![0.0; 4]);
            assert_eq!(model.score_all(&[1.0; 4]).len(), i);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_small_inputs_are_safe(
            users in 0usize..5,
            items in 0usize..5,
            pairs in prop::collection::vec(
                (0u32..7, 0u32..7, prop_oneof![Just(0.0f32), Just(-1.0f32), 0.0f32..20.0]), 0..40),
            extra in prop::collection::vec((0u32..9, 0u32..9, 0.0f32..5.0), 0..10),
            factors in 0usize..6,
            iterations in 0usize..4,
            cg_steps in 0usize..5,
            threads in 0usize..4,
            finalize in any::<bool>(),
        ) {
            let mut data = Interactions::new(users, items);
            for &(u, i, s) in pairs.iter().chain(pairs.iter().take(3)) {
                data.add(u, i, s);
            }
            if finalize {
                data.finalize();
            }
            let p = AlsParams { factors, iterations, cg_steps, threads, ..AlsParams::default() };
            let model = AlsModel::train(&data, &p);
            prop_assert!(model.users() >= users && model.items() >= items);
            prop_assert_eq!(model.user_factors.len(), model.users() * factors);
            prop_assert!(model.user_factors.iter().chain(&model.item_factors).all(|v| v.is_finite()));
            prop_assert!(model.loss(&data).is_finite());
            let folded = model.fold_in(&pairs.iter().map(|&(_, i, s)| (i, s)).collect::<Vec<_>>());
            prop_assert_eq!(folded.len(), factors);
            prop_assert!(folded.iter().all(|v| v.is_finite()));
            let top = model.top_n(&folded, 3, &|i| i % 2 == 1);
            prop_assert!(top.len() <= 3 && top.iter().all(|&(i, _)| i % 2 == 0));
            let mut more = data.clone();
            for &(u, i, s) in &extra {
                more.add(u, i, s);
            }
            let again = model.retrain(&more);
            prop_assert!(again.users() >= more.users() && again.items() >= more.items());
            prop_assert!(again.user_factors.iter().chain(&again.item_factors).all(|v| v.is_finite()));
        }
    }
}
