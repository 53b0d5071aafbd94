//! `streamrec quickstart`: a realistic sample shop, imported and served, with commands to try.
//!
//! The sample: items in categories with Zipf-distributed popularity inside each category; users with one or
//! two favourite categories, browsing in sessions (views, some add-to-carts, fewer purchases) over the last
//! 30 days. It is generated with a fixed seed, so every quickstart shows the same data.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::cli::{import_file, CsvArgs, ImportMode};
use crate::engine::{Engine, EngineConfig};
use crate::model::schema::DatasetType;

/// Options of `streamrec quickstart`.
#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Folder for the sample CSV files and the data directory.
    #[arg(long, default_value = "streamrec-quickstart")]
    pub dir: PathBuf,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Only generate and import; do not serve.
    #[arg(long)]
    pub no_serve: bool,
    /// Number of users in the sample.
    #[arg(long, default_value_t = 2_000)]
    pub users: u32,
    /// Number of items in the sample.
    #[arg(long, default_value_t = 1_000)]
    pub items: u32,
    /// Number of interactions in the sample.
    #[arg(long, default_value_t = 60_000)]
    pub interactions: u32,
}

const CATEGORIES: [&str; 10] =
    ["books", "music", "games", "garden", "kitchen", "sports", "toys", "office", "beauty", "outdoor"];

/// Writes `items.csv` and `interactions.csv` for the sample shop; returns their paths.
pub fn write_sample(
    dir: &Path,
    users: u32,
    items: u32,
    interactions: u32,
    now: i64,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let items_path = dir.join("items.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&items_path)?);
    writeln!(out, "ITEM_ID,CREATION_TIMESTAMP")?;
    let mut by_category: Vec<Vec<u32>> = vec![Vec::new(); CATEGORIES.len()];
    for item in 0..items {
        by_category[(item as usize) % CATEGORIES.len()].push(item);
        writeln!(out, "item-{item},{}", now - rng.gen_range(0..90 * 86_400))?;
    }
    out.flush()?;
    let per_category = Zipf::new(by_category[0].len().max(1) as u64, 1.1).expect("valid Zipf");
    let interactions_path = dir.join("interactions.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&interactions_path)?);
    writeln!(out, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE")?;
    let favourites: Vec<(usize, usize)> =
        (0..users).map(|_| (rng.gen_range(0..CATEGORIES.len()), rng.gen_range(0..CATEGORIES.len()))).collect();
    let mut written = 0;
    while written < interactions {
        let user = rng.gen_range(0..users);
        let (a, b) = favourites[user as usize];
        let mut ts = now - rng.gen_range(0..30 * 86_400);
        let session = rng.gen_range(2..12).min(interactions - written);
        for _ in 0..session {
            let category = match rng.gen_range(0..10) {
                0..=5 => a,
                6..=8 => b,
                _ => rng.gen_range(0..CATEGORIES.len()),
            };
            let pool = &by_category[category];
            let rank = (per_category.sample(&mut rng) as usize - 1).min(pool.len() - 1);
            let item = pool[rank];
            let event = match rng.gen_range(0..20) {
                0 => "purchase",
                1..=3 => "cart",
                _ => "view",
            };
            writeln!(out, "user-{user},item-{item},{ts},{event}")?;
            ts += rng.gen_range(10..300);
            written += 1;
        }
    }
    out.flush()?;
    Ok((items_path, interactions_path))
}

/// Runs the quickstart.
pub fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let (items, interactions) = write_sample(&args.dir, args.users, args.items, args.interactions, now)?;
    let data_dir = args.dir.join("data");
    let engine = Engine::open(EngineConfig::new(&data_dir))?;
    let csv = CsvArgs::default();
    let mut items_schema = csv.clone();
    items_schema.schema = None;
    let report = import_file(&engine, &items, DatasetType::Items, ImportMode::Full, &items_schema, true)?;
    println!("{report}");
    let report = import_file(&engine, &interactions, DatasetType::Interactions, ImportMode::Full, &csv, true)?;
    println!("{report}");
    let base = format!("http://{}", args.listen);
    println!(
        "\nSample shop imported into {data}: {u} users, {i} items, {n} interactions.\n\
         Try, once the server below is listening:\n\n\
         curl '{base}/v1/recommendations?userId=user-7&numResults=10'\n\
         curl '{base}/v1/similar-items?itemId=item-3&numResults=10'\n\
         curl '{base}/v1/popular?numResults=10'\n\
         curl '{base}/v1/trending?numResults=10'\n\
         curl -X POST {base}/v1/events -H 'content-type: application/json' \\\n  \
         -d '{{\"events\":[{{\"userId\":\"user-7\",\"itemId\":\"item-42\",\"eventType\":\"purchase\"}}]}}'\n\
         curl '{base}/v1/recommendations?userId=user-7&numResults=10'   # item-42 is gone, its neighbours rose\n\
         curl '{base}/v1/stats'\n\n\
         The Personalize API is on the same port, with signature checks OFF for this local quickstart\n\
         (`streamrec serve` checks SigV4 signatures against --access-key ID:SECRET; see README.md):\n\n\
         export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1   # any key will do here\n\
         aws personalize list-recipes --endpoint-url {base}\n\
         aws personalize create-dataset-group --name shop --endpoint-url {base}\n\n\
         From the command line (stop the server first; it holds the data directory):\n\
         streamrec recommend --data-dir {data} --user user-7\n",
        data = data_dir.display(),
        u = args.users,
        i = args.items,
        n = args.interactions,
    );
    if args.no_serve {
        engine.shutdown();
        return Ok(());
    }
    println!("Serving on {base} (Ctrl-C to stop).");
    // The quickstart is local development: the Personalize API accepts unsigned requests, which the
    // message above says; `streamrec serve` verifies SigV4 signatures unless told otherwise.
    let personalize = crate::cli::PersonalizeArgs::insecure_local().config(2)?;
    crate::cli::serve_blocking(engine, personalize, args.listen, None)
}
