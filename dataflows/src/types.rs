//! The plain data that flows through the graphs, and the parameters that shape them.

use serde::{Deserialize, Serialize};

/// Dense, interned user id (the engine maps external string ids to these).
pub type UserId = u32;
/// Dense, interned item id.
pub type ItemId = u32;
/// Dense, interned event type id (`"click"`, `"purchase"`, …).
pub type EventTypeId = u16;
/// Event time: seconds since the Unix epoch, as in Personalize's `TIMESTAMP`.
pub type Seconds = i64;
/// Dataflow logical time: the sequencer's epoch counter. Models never depend on it, only on [`Seconds`].
pub type Epoch = u64;

/// A step in users' sequences: item `a`, then item `b` a given number of events later.
pub type Transition = (ItemId, ItemId, u8);

/// The event type key under which every event type is counted together.
pub const ANY_EVENT_TYPE: EventTypeId = EventTypeId::MAX;

/// One user–item interaction, the unit of the `events` input collection.
///
/// Inserted with diff `+1` when accepted, retracted with `-1` when the user's data is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interaction {
    /// Who interacted.
    pub user: UserId,
    /// With what.
    pub item: ItemId,
    /// How (interned event type).
    pub event_type: EventTypeId,
    /// When, in event time.
    pub timestamp: Seconds,
}

/// An interned context value (`DEVICE=phone`) an interaction happened in.
pub type ContextId = u32;

/// A context an interaction happened in: one per context value of the event, so that answers can be
/// conditioned on the context of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContextEvent {
    /// The user of the interaction (deleting the user retracts it).
    pub user: UserId,
    /// The item of the interaction.
    pub item: ItemId,
    /// The context value.
    pub context: ContextId,
}

/// One item in a user's recent window: the item, the time of its latest interaction and that interaction's type.
///
/// Ordered by time first, so that a sorted window reads oldest to newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecentEntry {
    /// Time of the user's latest interaction with `item`.
    pub timestamp: Seconds,
    /// The item.
    pub item: ItemId,
    /// Type of that latest interaction (the largest id when several share the timestamp).
    pub event_type: EventTypeId,
}

/// One of an item's neighbour candidates: a co-occurring item and the number of users whose recent windows
/// hold both.
///
/// Candidates are the top `Params::neighbours` partners by co-count; the normalised similarity
/// ([`crate::score::similarity`]) is applied where they are read, with the current window counts (the
/// `window_counts` output). Why not normalise in the graph: the normaliser of a pair depends on the partner's
/// window count, which changes with nearly every event for popular items, so exact normalised lists would
/// be re-ranked for every item listing a popular partner on every event; co-counts change only for the
/// pairs an event touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Neighbour {
    /// The neighbouring item.
    pub item: ItemId,
    /// Users whose windows hold both items.
    pub cocount: u32,
}

/// An item's whole list of neighbour candidates at one time, best first (co-count descending, then item id),
/// shared by reference: the `neighbour_lists` output replaces an item's list with a new one instead of
/// sending the entries that changed.
pub type NeighbourList = std::sync::Arc<[Neighbour]>;

/// A user's time-decayed affinity for an item, as a fixed-point base-2 logarithm relative to the origin
/// [`AffinityParams::origin`]: the affinity at time `now` is `2^(log2_fixed / 2^16 − (now − origin) / half_life)`.
///
/// Kept in log space so that it never overflows and never needs rebasing; ranking a user's items by it is
/// the same at every `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Affinity {
    /// `round(log2(Σ weight · 2^((ts − origin) / half_life)) · 2^16)`.
    pub log2_fixed: i64,
}

/// Fixed-point scale of [`Affinity::log2_fixed`].
pub const AFFINITY_SCALE: f64 = 65536.0;

impl Affinity {
    /// The affinity's value at event time `now`.
    pub fn value_at(&self, now: Seconds, params: &AffinityParams) -> f64 {
        let exponent =
            self.log2_fixed as f64 / AFFINITY_SCALE - (now - params.origin) as f64 / params.half_life_secs as f64;
        exponent.exp2()
    }
}

/// How item–item similarity is normalised from co-occurrence counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Similarity {
    /// `c / sqrt(n_a · n_b)`.
    #[default]
    Cosine,
    /// `c / (n_a + n_b − c)`.
    Jaccard,
    /// `c / (n_a · n_b)`: lift up to the constant number of users, which no ranking depends on.
    Lift,
}

impl std::str::FromStr for Similarity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Similarity::Cosine),
            "jaccard" => Ok(Similarity::Jaccard),
            "lift" => Ok(Similarity::Lift),
            other => Err(format!("unknown similarity {other:?}: expected cosine, jaccard or lift")),
        }
    }
}

/// Parameters of each user's recent window (the source of co-occurrence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowParams {
    /// At most this many distinct items per user (the newest by latest interaction).
    pub max_items: usize,
    /// Only items whose latest interaction is at most this many seconds older than the user's newest event.
    pub max_age_secs: Seconds,
}

/// Parameters of the time-decayed user–item affinity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AffinityParams {
    /// Time for an interaction's weight to halve, in seconds.
    pub half_life_secs: Seconds,
    /// Fixed origin of the log-space scores (any constant; changing it shifts every score equally).
    pub origin: Seconds,
    /// Weight of each event type (index = event type id); missing types weigh 1.
    pub event_type_weights: Vec<f64>,
}

impl AffinityParams {
    /// The weight of one event type.
    pub fn weight(&self, event_type: EventTypeId) -> f64 {
        self.event_type_weights.get(event_type as usize).copied().unwrap_or(1.0)
    }
}

/// Every documented parameter of the graphs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Recent window per user: the history recommendations start from.
    pub window: WindowParams,
    /// The (smaller) window co-occurrence is counted in. Every window change pairs with every other entry of
    /// the window, so its length sets the graph's cost per event (about 4 × its length pair updates) while
    /// the history window costs nothing per pair.
    pub cooccurrence_window: WindowParams,
    /// Users whose number of events is above this percentile of all users' are left out of co-occurrence
    /// (100: nobody): a few extreme users (crawlers, shared accounts) would otherwise tie everything together.
    pub user_trim_percentile: f64,
    /// Item-to-next-item transitions are counted up to this many events apart (0: not at all).
    pub transition_distance: usize,
    /// Pairs co-occurring in fewer users' windows than this are ignored.
    pub min_cocount: isize,
    /// Neighbour candidates kept per item: the most co-occurring partners (ties to the lower item id).
    pub neighbours: usize,
    /// How co-occurrence is normalised.
    pub similarity: Similarity,
    /// Width of the time buckets counted for trending, in seconds.
    pub trend_bucket_secs: Seconds,
    /// User–item affinity decay.
    pub affinity: AffinityParams,
    /// Whether the `cooccurrence` output carries every pair's count. Tests compare it with the reference
    /// model; the engine serves from the neighbour lists and window counts and skips the cost (two output
    /// updates per changed pair).
    #[serde(default = "publish")]
    pub publish_pair_counts: bool,
    /// Whether the `neighbours` output carries each change of the neighbour lists (a retraction and an
    /// insertion per moved entry). Tests compare it with the reference model.
    #[serde(default = "publish")]
    pub publish_neighbour_changes: bool,
    /// Whether the `neighbour_lists` output carries each changed list whole. The engine serves from these:
    /// on live epochs a hot item's list changes in most of its entries, and replacing it costs one copy of
    /// the list, where applying the changes cost a search and a shift of the list per entry.
    #[serde(default)]
    pub publish_neighbour_lists: bool,
}

fn publish() -> bool {
    true
}

impl Default for Params {
    fn default() -> Self {
        Params {
            window: WindowParams { max_items: 50, max_age_secs: 365 * 86_400 },
            cooccurrence_window: WindowParams { max_items: 50, max_age_secs: 365 * 86_400 },
            transition_distance: 3,
            user_trim_percentile: 100.0,
            min_cocount: 1,
            neighbours: 200,
            similarity: Similarity::Cosine,
            trend_bucket_secs: 3_600,
            affinity: AffinityParams {
                half_life_secs: 30 * 86_400,
                origin: 1_000_000_000,
                event_type_weights: Vec::new(),
            },
            publish_pair_counts: true,
            publish_neighbour_changes: true,
            publish_neighbour_lists: false,
        }
    }
}
