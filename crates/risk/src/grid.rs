//! The scenario grid and the one-factor correlation that nets underlyings against each other.
//!
//! Nodes: 0..=8 are the core price moves (-R, -3R/4, ..., +R), 9 the extended down move and 10
//! the extended up move. Each core node is evaluated with three volatility shocks.
//!
//! Correlation: underlyings of one group load on one market factor with beta in [0, 1], so
//! correlation(u, v) = beta_u beta_v. Positions are measured in units of the core range R: core
//! node k sits at xi = (k - 4)/4, the extended nodes at -extended_down/R and +extended_up/R. The
//! factor takes 11 levels: the 9 core positions and each member's two extended positions. At a
//! factor level m, a member may sit at any node within its idiosyncratic range,
//! |xi - beta m| <= sqrt(1 - beta^2) max(1, |m|) (the range grows with the size of the move). A
//! group's requirement is the worst factor level of the sum of each member's worst loss within
//! its allowed nodes. beta = 0 lets every node through at the extended levels (no netting: the sum
//! of worst losses); beta = 1 pins every member to the factor's own node (full netting). Every
//! node is allowed at its own level, so a lone underlying is charged its worst scenario.
use core::ops::Add;

use crate::error::{RiskError, RiskResult};
use crate::fx::{div, div_int, fx_ratio, half, mul, mul_int, sub, Fx};
use crate::math::{ln, sqrt};
use crate::model::{ScenarioGrid, MAX_UNDERLYINGS};

pub const PRICE_STEPS_PER_SIDE: usize = 4;
pub const CORE_NODES: usize = 2 * PRICE_STEPS_PER_SIDE + 1;
pub const EXTENDED_DOWN_NODE: usize = CORE_NODES;
pub const EXTENDED_UP_NODE: usize = CORE_NODES + 1;
pub const NODES: usize = CORE_NODES + 2;
pub const VOL_SHOCKS: usize = 3;
pub const CORE_SCENARIOS: usize = CORE_NODES * VOL_SHOCKS;
/// The 9 core positions and the two extended ones.
pub const FACTOR_LEVELS: usize = NODES;
/// Price segments between adjacent core nodes.
pub const SEGMENTS: usize = CORE_NODES - 1;

/// Volatility shock of a core scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VolShock {
    Down = 0,
    Flat = 1,
    Up = 2,
}

pub const VOL_SHOCK_ORDER: [VolShock; VOL_SHOCKS] = [VolShock::Down, VolShock::Flat, VolShock::Up];

/// Direction of a price move: index of the per-direction bounds.
pub const DOWN: usize = 0;
pub const UP: usize = 1;

/// One scenario: a node and, for core nodes, a volatility shock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    pub node: usize,
    pub vol: VolShock,
}

/// Everything the bounds need about a grid, computed once per underlying.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GridConstants {
    /// Relative price move of each node (core then extended).
    pub moves: [Fx; NODES],
    /// R, the largest core move.
    pub price_range: Fx,
    /// ln(1 + x) and 1 / (1 + x) of each core node.
    pub ln_moves: [Fx; CORE_NODES],
    pub inv_moves: [Fx; CORE_NODES],
    /// ln(1 + x) of the extended down / up moves.
    pub ln_extended: [Fx; 2],
    pub vol_down: Fx,
    pub vol_up: Fx,
    pub extended_weight: Fx,
}

/// Sequential reader of `GridConstants` words.
/// Reads plain words back into engine values, in order; running out is an error.
pub(crate) struct Words<'a> {
    pub(crate) words: &'a [i64],
    pub(crate) at: usize,
}

impl Words<'_> {
    pub(crate) fn word(&mut self) -> RiskResult<i64> {
        let word = *self.words.get(self.at).ok_or(RiskError::InvalidParameter)?;
        self.at += 1;
        Ok(word)
    }

    pub(crate) fn fx(&mut self) -> RiskResult<Fx> {
        self.word().map(Fx::from_bits)
    }

    fn skip(&mut self, words: usize) -> RiskResult<()> {
        let end = self.at + words;
        if end > self.words.len() {
            return Err(RiskError::InvalidParameter);
        }
        self.at = end;
        Ok(())
    }

    /// The next `out.len()` words, with one bounds check for the run (margin checks decode a
    /// market's constants and every cached series' bounds this way).
    pub(crate) fn fill(&mut self, out: &mut [Fx]) -> RiskResult<()> {
        let end = self.at + out.len();
        let run = self
            .words
            .get(self.at..end)
            .ok_or(RiskError::InvalidParameter)?;
        for (slot, word) in out.iter_mut().zip(run) {
            *slot = Fx::from_bits(*word);
        }
        self.at = end;
        Ok(())
    }
}

/// Length of `GridConstants::to_words`: the constants as plain words an account can store
/// (with the ladder weights and segment ranges, which `read_words` skips: they follow from the
/// moves, and only an option priced live needs them).
pub const GRID_WORDS: usize =
    NODES + 1 + 2 * CORE_NODES + CORE_NODES * SEGMENTS + 2 * CORE_NODES + 2 + 3;
/// Words of the ladder weights and segment ranges in `to_words`.
const LADDER_WORDS: usize = CORE_NODES * SEGMENTS + 2 * CORE_NODES;

impl GridConstants {
    /// The constants as words (I32F32 bits, segment bounds as integers), in field order.
    pub fn to_words(&self) -> [i64; GRID_WORDS] {
        let mut words = [0i64; GRID_WORDS];
        let mut out = words.iter_mut();
        let mut put = |value: i64| {
            if let Some(slot) = out.next() {
                *slot = value;
            }
        };
        self.moves.iter().for_each(|v| put(v.to_bits()));
        put(self.price_range.to_bits());
        self.ln_moves.iter().for_each(|v| put(v.to_bits()));
        self.inv_moves.iter().for_each(|v| put(v.to_bits()));
        for node in 0..CORE_NODES {
            for segment in 0..SEGMENTS {
                // A weight is a product of validated moves: it cannot fail for a grid `new`
                // accepted.
                put(self.segment_weight(node, segment).map_or(0, Fx::to_bits));
            }
        }
        for node in 0..CORE_NODES {
            let (start, end) = segment_range(node);
            put(start as i64);
            put(end as i64);
        }
        self.ln_extended.iter().for_each(|v| put(v.to_bits()));
        put(self.vol_down.to_bits());
        put(self.vol_up.to_bits());
        put(self.extended_weight.to_bits());
        words
    }

    /// The inverse of `to_words`; segment bounds outside the ladder are an error.
    pub fn from_words(words: &[i64; GRID_WORDS]) -> RiskResult<Self> {
        let mut constants = Self::default();
        constants.read_words(words)?;
        Ok(constants)
    }

    /// `from_words` into `self`, in place: a margin check decodes each market's constants
    /// straight into the engine's vector (the struct is ~1 KB; every copy costs on SBF).
    pub fn read_words(&mut self, words: &[i64; GRID_WORDS]) -> RiskResult<()> {
        let mut reader = Words { words, at: 0 };
        reader.fill(&mut self.moves)?;
        self.price_range = reader.fx()?;
        reader.fill(&mut self.ln_moves)?;
        reader.fill(&mut self.inv_moves)?;
        reader.skip(LADDER_WORDS)?;
        reader.fill(&mut self.ln_extended)?;
        self.vol_down = reader.fx()?;
        self.vol_up = reader.fx()?;
        self.extended_weight = reader.fx()?;
        Ok(())
    }

    pub fn new(grid: &ScenarioGrid) -> RiskResult<Self> {
        grid.validate()?;
        let mut moves = [Fx::ZERO; NODES];
        let mut ln_moves = [Fx::ZERO; CORE_NODES];
        let mut inv_moves = [Fx::ONE; CORE_NODES];
        for node in 0..CORE_NODES {
            let steps = node as i64 - PRICE_STEPS_PER_SIDE as i64;
            moves[node] = div_int(
                mul_int(grid.price_range, steps)?,
                PRICE_STEPS_PER_SIDE as u32,
            );
            ln_moves[node] = ln(Fx::ONE + moves[node])?;
            inv_moves[node] = div(Fx::ONE, Fx::ONE + moves[node])?;
        }
        moves[EXTENDED_DOWN_NODE] = -grid.extended_down;
        moves[EXTENDED_UP_NODE] = grid.extended_up;
        Ok(Self {
            moves,
            price_range: grid.price_range,
            ln_moves,
            inv_moves,
            ln_extended: [
                ln(sub(Fx::ONE, grid.extended_down)?)?,
                ln(Fx::ONE + grid.extended_up)?,
            ],
            vol_down: grid.vol_down,
            vol_up: grid.vol_up,
            extended_weight: grid.extended_weight,
        })
    }

    /// Gamma-ladder weight: f(x_k) / S = delta x_k + Σ_j weight(k, j) gamma_j, where gamma_j is
    /// gamma x S on segment j (between nodes j and j+1); weight(k, j) = ∫ over the part of
    /// segment j between the centre and node k of |x_k - u| du (0 outside `segment_range(k)`).
    pub fn segment_weight(&self, node: usize, segment: usize) -> RiskResult<Fx> {
        let (start, end) = segment_range(node);
        if !(start..end).contains(&segment) || segment + 1 >= CORE_NODES {
            return Ok(Fx::ZERO);
        }
        let step = div_int(self.price_range, PRICE_STEPS_PER_SIDE as u32);
        let middle = half(self.moves[segment] + self.moves[segment + 1]);
        mul(step, sub(self.moves[node], middle)?.abs())
    }
}

/// The segments with a non-zero ladder weight at core node `node` (start, end exclusive): those
/// between the centre and the node.
pub const fn segment_range(node: usize) -> (usize, usize) {
    if node > PRICE_STEPS_PER_SIDE {
        (PRICE_STEPS_PER_SIDE, node)
    } else {
        (node, PRICE_STEPS_PER_SIDE)
    }
}

/// Direction index (DOWN / UP) of a core node; the centre counts as up (it has no price move).
pub const fn direction_of(node: usize) -> usize {
    if node < PRICE_STEPS_PER_SIDE {
        DOWN
    } else {
        UP
    }
}

/// Node position in units of the core range R.
fn node_position(grid: &GridConstants, node: usize) -> RiskResult<Fx> {
    match node {
        EXTENDED_DOWN_NODE | EXTENDED_UP_NODE => div(grid.moves[node], grid.price_range),
        _ => Ok(fx_ratio(
            node as i64 - PRICE_STEPS_PER_SIDE as i64,
            PRICE_STEPS_PER_SIDE as i64,
        )),
    }
}

/// For each factor level (the position of node `level`), the bit set of nodes an underlying with
/// loading `beta` may take.
pub fn factor_masks(beta: Fx, grid: &GridConstants) -> RiskResult<[u16; FACTOR_LEVELS]> {
    let beta = beta.clamp(Fx::ZERO, Fx::ONE);
    let idiosyncratic = sqrt(sub(Fx::ONE, mul(beta, beta)?)?)?;
    // Slack of a few units in the last place so exact boundary cases (beta = 0 or 1) are kept
    // despite the rounding of sqrt.
    let slack = Fx::from_bits(16);
    let mut positions = [Fx::ZERO; NODES];
    for (node, position) in positions.iter_mut().enumerate() {
        *position = node_position(grid, node)?;
    }
    let mut masks = [0u16; FACTOR_LEVELS];
    for (level, mask) in masks.iter_mut().enumerate() {
        let factor = positions[level];
        let centre = mul(beta, factor)?;
        let reach = mul(idiosyncratic, factor.abs().max(Fx::ONE))? + slack;
        for (node, position) in positions.iter().enumerate() {
            if sub(*position, centre)?.abs() <= reach {
                *mask |= 1 << node;
            }
        }
    }
    Ok(masks)
}

/// One underlying's contribution to the correlation aggregation.
#[derive(Clone, Copy, Debug)]
pub struct NodeLosses<T> {
    pub group: u8,
    /// Each factor level's allowed nodes (`level_spans` of the underlying's factor masks).
    pub spans: [LevelSpan; FACTOR_LEVELS],
    /// Worst loss at each node (core: over the volatility shocks; extended: weighted).
    pub worst: [T; NODES],
    /// Minimum charge: the group's requirement is at least the sum of its members' floors.
    pub floor: T,
}

impl<T: Copy + PartialOrd> NodeLosses<T> {
    /// The member's worst loss at each factor level (over the nodes that level allows): all the
    /// aggregation needs, so a member that does not change is reduced once.
    pub fn levels(&self) -> LevelLosses<T> {
        let max = |a: T, b: T| if b > a { b } else { a };
        // Worst losses in position order, then the worst of each run of 2, 4 and 8 nodes
        // starting at each position: a level's span is covered by two runs of the largest
        // power of two within its length (a handful of operations per level where a scan
        // costs up to eleven compares).
        let ordered = POSITION_ORDER.map(|node| self.worst[node]);
        let mut pairs = [ordered[0]; NODES - 1];
        for (start, slot) in pairs.iter_mut().enumerate() {
            *slot = max(ordered[start], ordered[start + 1]);
        }
        let mut fours = [ordered[0]; NODES - 3];
        for (start, slot) in fours.iter_mut().enumerate() {
            *slot = max(pairs[start], pairs[start + 2]);
        }
        let mut eights = [ordered[0]; NODES - 7];
        for (start, slot) in eights.iter_mut().enumerate() {
            *slot = max(fours[start], fours[start + 4]);
        }
        let runs: [&[T]; 4] = [&ordered, &pairs, &fours, &eights];
        let mut levels = self.worst;
        for (slot, span) in levels.iter_mut().zip(&self.spans) {
            let (width, head, tail) = span.parts();
            let Some(run) = runs.get(width) else {
                continue;
            };
            let (Some(&head), Some(&tail)) = (run.get(head), run.get(tail)) else {
                continue;
            };
            *slot = max(*slot, max(head, tail));
        }
        LevelLosses {
            group: self.group,
            levels,
            floor: self.floor,
        }
    }
}

/// A factor level's allowed nodes, a run of positions (`POSITION_ORDER`), as `levels` reads it:
/// the run is covered by the two runs of 2^width positions starting at `head` and `tail` (the
/// same run when its length is a power of two). Packed in 16 bits (width: 2, head: 4, tail: 4)
/// so an account stores the spans in place of the masks and a check reads them as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelSpan(u16);

impl LevelSpan {
    /// The span of `mask` at `level`. An empty mask allows the level's own node, which
    /// `factor_masks` allows at every level.
    pub fn new(level: usize, mask: u16) -> Self {
        // The inverse of `POSITION_ORDER`.
        let own = match level {
            EXTENDED_DOWN_NODE => 0,
            EXTENDED_UP_NODE => NODES - 1,
            core => core + 1,
        };
        let (first, last) = span(mask).unwrap_or((own, own));
        let length = last + 1 - first;
        // floor(log2(length)) for a length in 1..=NODES.
        let width = usize::from(length >= 2) + usize::from(length >= 4) + usize::from(length >= 8);
        let tail = last + 1 - (1 << width);
        Self((width | first << 2 | tail << 6) as u16)
    }

    /// As stored. Any 16 bits are a span `levels` reads without fault; only those of `new`
    /// mean a run of allowed nodes.
    pub const fn from_bits(bits: u16) -> Self {
        Self(bits)
    }

    pub const fn to_bits(self) -> u16 {
        self.0
    }

    /// (width, head, tail).
    #[inline]
    fn parts(self) -> (usize, usize, usize) {
        let bits = self.0 as usize;
        (bits & 3, (bits >> 2) & 15, (bits >> 6) & 15)
    }
}

/// Each level's span of an underlying's factor masks (`factor_masks`).
pub fn level_spans(masks: &[u16; FACTOR_LEVELS]) -> [LevelSpan; FACTOR_LEVELS] {
    let mut spans = [LevelSpan::default(); FACTOR_LEVELS];
    for (level, (slot, mask)) in spans.iter_mut().zip(masks).enumerate() {
        *slot = LevelSpan::new(level, *mask);
    }
    spans
}

/// One member reduced to its worst loss per factor level (`NodeLosses::levels`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LevelLosses<T> {
    pub group: u8,
    pub levels: [T; FACTOR_LEVELS],
    pub floor: T,
}

/// Outcome of the aggregation: requirement and, for the group that contributes most, the
/// factor level that binds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aggregate<T> {
    pub requirement: T,
    pub binding_group: Option<u8>,
    pub binding_level: usize,
}

/// Correlated requirement: the sum over groups of max(0, Σ member floors, worst factor level of
/// the group's sum of member losses restricted to their allowed nodes). Generic so the f64
/// reference runs the very same rule on its full-revaluation losses. `CapacityExceeded` beyond
/// `MAX_UNDERLYINGS` groups.
pub fn aggregate<T>(members: &[NodeLosses<T>]) -> RiskResult<Aggregate<T>>
where
    T: Copy + PartialOrd + Add<Output = T> + Default,
{
    let mut sums = GroupSums::new();
    for member in members {
        sums.add(&member.levels())?;
    }
    Ok(sums.aggregate())
}

/// Each correlation group's sums of its members' level losses and floors, groups in order of
/// first appearance: members stream in one at a time and no list of them is kept (one pass
/// where summing group by group rescans the members).
#[derive(Clone, Copy, Debug)]
pub struct GroupSums<T> {
    groups: [GroupSum<T>; MAX_UNDERLYINGS],
    count: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct GroupSum<T> {
    group: u8,
    levels: [T; FACTOR_LEVELS],
    floor: T,
}

impl<T> Default for GroupSums<T>
where
    T: Copy + PartialOrd + Add<Output = T> + Default,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T> GroupSums<T>
where
    T: Copy + PartialOrd + Add<Output = T> + Default,
{
    pub fn new() -> Self {
        Self {
            groups: [GroupSum::default(); MAX_UNDERLYINGS],
            count: 0,
        }
    }

    /// Adds a member to its group's sums (opening the group at its first member).
    pub fn add(&mut self, member: &LevelLosses<T>) -> RiskResult<()> {
        let opened = self.count;
        let at = self
            .groups
            .iter()
            .take(opened)
            .position(|g| g.group == member.group)
            .unwrap_or(opened);
        let sum = self.groups.get_mut(at).ok_or(RiskError::CapacityExceeded)?;
        if at == opened {
            self.count += 1;
            sum.group = member.group;
        }
        sum.floor = sum.floor + member.floor;
        for (total, level) in sum.levels.iter_mut().zip(&member.levels) {
            *total = *total + *level;
        }
        Ok(())
    }

    pub fn aggregate(&self) -> Aggregate<T> {
        let zero = T::default();
        let mut total = zero;
        let mut binding_group = None;
        let mut binding_level = PRICE_STEPS_PER_SIDE;
        let mut largest = zero;
        for sum in self.groups.iter().take(self.count) {
            let mut group_worst = (sum.levels[0], 0);
            for (level, level_sum) in sum.levels.iter().enumerate().skip(1) {
                if *level_sum > group_worst.0 {
                    group_worst = (*level_sum, level);
                }
            }
            let (mut worst, level) = group_worst;
            if sum.floor > worst {
                worst = sum.floor;
            }
            if worst > zero {
                total = total + worst;
                if worst > largest {
                    largest = worst;
                    binding_group = Some(sum.group);
                    binding_level = level;
                }
            }
        }
        Aggregate {
            requirement: total,
            binding_group,
            binding_level,
        }
    }
}

/// Nodes in increasing order of their move: the extended down move, the core nodes, the
/// extended up move (`ScenarioGrid::validate` keeps the extended moves beyond the core range).
pub const POSITION_ORDER: [usize; NODES] = [
    EXTENDED_DOWN_NODE,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    EXTENDED_UP_NODE,
];

/// The first and last `POSITION_ORDER` index of the nodes in `mask`, None when it is empty. A
/// level allows the nodes within a distance of its centre, a run in position order, so the
/// span is exactly the mask; were it not, the span would hold more nodes and the level's
/// worst loss could only be larger (never less safe). Bit tricks instead of a scan of the
/// eleven bits per level: SBPF v0 has no count-trailing-zeros instruction.
pub fn span(mask: u16) -> Option<(usize, usize)> {
    // In u64: SBF has no 16-bit arithmetic, so narrow types cost a masking per operation.
    let mask = mask as u64;
    const CORE: u64 = (1 << CORE_NODES) - 1;
    let ordered = ((mask & CORE) << 1)
        | ((mask >> EXTENDED_DOWN_NODE) & 1)
        | (((mask >> EXTENDED_UP_NODE) & 1) << (NODES - 1));
    if ordered == 0 {
        return None;
    }
    let lowest = ordered & ordered.wrapping_neg();
    let mut smeared = ordered;
    smeared |= smeared >> 1;
    smeared |= smeared >> 2;
    smeared |= smeared >> 4;
    smeared |= smeared >> 8;
    let highest = (smeared >> 1) + 1;
    Some((bit_index(lowest), bit_index(highest)))
}

/// k for 2^k, k < 12: 2 generates the units modulo 13, so 2^k mod 13 differs for each k.
fn bit_index(power: u64) -> usize {
    const BY_RESIDUE: [usize; 13] = [0, 0, 1, 4, 2, 9, 5, 11, 3, 8, 10, 7, 6];
    BY_RESIDUE[(power % 13) as usize]
}
