//! Stride scheduling (earliest virtual deadline first), the weighted round robin that
//! `roundrobin` switches to for large backends: each server's next turn is due one
//! stride (`SCALE / weight`) after its last, and a binary heap gives the earliest due
//! in O(log n), where smooth weighted round robin looks at every server on every pick.
//! Shares are the same (weight-proportional) and turns interleave; first turns are
//! offset by half a stride so that equal weights alternate from the start.

use super::ServerState;

const SCALE: u64 = 1 << 24;
/// A heap entry is `due << INDEX_BITS | server`: one integer compare orders by due
/// time, then by server index.
const INDEX_BITS: u32 = 16;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// Due times are rebased (all shifted down) before they could reach the top bits.
const REBASE_AT: u64 = 1 << 44;

#[derive(Debug, Default)]
pub struct Stride {
    /// Packed `(due, server)` entries, a min-heap.
    heap: Vec<u64>,
    /// Each server's stride, by server index (no division per pick).
    strides: Vec<u64>,
    /// Virtual time: the due time of the last turn.
    now: u64,
}

impl Stride {
    /// Start over with `candidates`, from the current virtual time.
    pub fn rebuild(&mut self, candidates: &[usize], servers: &[ServerState]) {
        self.strides.clear();
        self.strides.extend(servers.iter().map(stride));
        self.heap.clear();
        for &i in candidates.iter().filter(|&&i| (i as u64) <= INDEX_MASK) {
            let due = self.now + self.strides[i] / 2;
            self.heap.push(due << INDEX_BITS | i as u64);
        }
        for k in (0..self.heap.len() / 2).rev() {
            self.sift_down(k);
        }
    }

    /// The next server, not `skip` unless it is the only one.
    pub fn next(&mut self, skip: Option<usize>) -> Option<usize> {
        let top = *self.heap.first()?;
        let k = if Some((top & INDEX_MASK) as usize) == skip {
            match (self.heap.get(1), self.heap.get(2)) {
                (Some(a), Some(b)) if b < a => 2,
                (Some(_), _) => 1,
                _ => 0,
            }
        } else {
            0
        };
        let entry = self.heap[k];
        let (due, i) = (entry >> INDEX_BITS, (entry & INDEX_MASK) as usize);
        self.now = self.now.max(due);
        self.heap[k] = (due + self.strides[i]) << INDEX_BITS | i as u64;
        self.sift_down(k);
        if self.now > REBASE_AT {
            self.rebase();
        }
        Some(i)
    }

    /// Shift every due time down by `now` (order unchanged).
    fn rebase(&mut self) {
        let base = self.now;
        for e in &mut self.heap {
            let due = (*e >> INDEX_BITS).saturating_sub(base);
            *e = due << INDEX_BITS | (*e & INDEX_MASK);
        }
        self.now = 0;
    }

    /// Move the entry at `k` down to its place, shifting smaller children up into the
    /// hole (one write per level instead of a swap).
    fn sift_down(&mut self, mut k: usize) {
        let n = self.heap.len();
        let moving = self.heap[k];
        loop {
            let l = 2 * k + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let child = if r < n && self.heap[r] < self.heap[l] {
                r
            } else {
                l
            };
            if self.heap[child] >= moving {
                break;
            }
            self.heap[k] = self.heap[child];
            k = child;
        }
        self.heap[k] = moving;
    }
}

/// Weights of candidates are at least 1.
fn stride(s: &ServerState) -> u64 {
    SCALE / u64::from(s.weight.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::servers;

    #[test]
    fn rebasing_keeps_the_order() {
        let s = servers(&[1, 2, 3]);
        let mut st = Stride::default();
        st.rebuild(&[0, 1, 2], &s);
        st.now = REBASE_AT - 10;
        st.rebuild(&[0, 1, 2], &s);
        let mut count = [0; 3];
        for _ in 0..600 {
            count[st.next(None).unwrap()] += 1;
        }
        assert!(st.now < REBASE_AT);
        assert_eq!(count, [100, 200, 300]);
    }
}
