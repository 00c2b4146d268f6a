//! Prefix caching: a finished sequence leaves its tokens' keys and values in the
//! context's KV cache, and the next request that starts the same way (the same system
//! prompt, the earlier turns of the same conversation) takes that sequence and decodes
//! only what follows the shared prefix.
//!
//! The memory budget is the context's own: every sequence has its window of the KV
//! cache allocated once, so what an idle sequence holds costs nothing more. A request
//! takes the idle sequence holding its longest prefix; when none holds any, the least
//! recently used one, whose cache is evicted. So the cache keeps the `slots` most
//! recent conversations, the least recently used going first.
//!
//! Which tokens count is found by comparing token ids, so a Converse `cachePoint` is
//! not needed for a hit: the longest common prefix covers whatever it marks.
//!
//! Determinism at temperature 0: llama.cpp's kernels may add up in another order for
//! another batch size, so a prompt decoded in other pieces can give other logits. The
//! engine decodes every prompt in pieces of [`CHUNK`] tokens aligned to its start, and
//! the reused prefix is cut to a whole number of pieces: a repeated request decodes its
//! rest in exactly the pieces the first one did.

/// Prompts are decoded in pieces of this many tokens, starting at the prompt's start.
pub const CHUNK: usize = 64;

/// What each sequence of the context holds while it is idle.
#[derive(Debug)]
pub struct PrefixCache {
    /// By sequence id: the tokens whose keys and values are in the cache.
    held: Vec<Vec<i32>>,
    /// By sequence id: when it last went idle (higher is later).
    used: Vec<u64>,
    clock: u64,
    /// Reuse is cut to a multiple of this.
    chunk: usize,
}

/// The sequence a prompt runs in, and how many of its tokens are already decoded there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub seq: usize,
    pub reuse: usize,
}

impl PrefixCache {
    pub fn new(slots: usize, chunk: usize) -> Self {
        Self { held: vec![Vec::new(); slots], used: vec![0; slots], clock: 0, chunk: chunk.max(1) }
    }

    /// The idle sequence (`idle(id)`) for `prompt`: the one holding its longest prefix,
    /// else the least recently used. At least the prompt's last token is decoded again,
    /// since its logits give the first answer token, and the reuse is whole chunks.
    pub fn pick(&self, idle: impl Fn(usize) -> bool, prompt: &[i32]) -> Option<Pick> {
        let limit = prompt.len().saturating_sub(1);
        (0..self.held.len())
            .filter(|&id| idle(id))
            .map(|id| {
                let shared = common_prefix(&self.held[id], prompt);
                let reuse = shared.min(limit);
                (Pick { seq: id, reuse: reuse - reuse % self.chunk }, shared)
            })
            // Longest usable prefix first, then the longest shared one (the sequence that
            // holds the whole prompt), then least recently used.
            .max_by(|(a, sa), (b, sb)| {
                a.reuse.cmp(&b.reuse).then(sa.cmp(sb)).then(self.used[b.seq].cmp(&self.used[a.seq]))
            })
            .map(|(pick, _)| pick)
    }

    /// `seq` starts running: what it held is now the running sequence's.
    pub fn take(&mut self, seq: usize) {
        if let Some(h) = self.held.get_mut(seq) {
            h.clear();
        }
    }

    /// `seq` went idle holding `tokens`.
    pub fn release(&mut self, seq: usize, tokens: Vec<i32>) {
        self.clock += 1;
        if let (Some(h), Some(u)) = (self.held.get_mut(seq), self.used.get_mut(seq)) {
            *h = tokens;
            *u = self.clock;
        }
    }
}

pub fn common_prefix(a: &[i32], b: &[i32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_the_last_token_is_decoded_again() {
        let mut c = PrefixCache::new(3, 1);
        c.release(0, vec![1, 2, 3, 9]);
        c.release(1, vec![1, 2, 3, 4, 5, 6]);
        c.release(2, vec![7]);
        let all = |_| true;
        assert_eq!(c.pick(all, &[1, 2, 3, 4, 8]), Some(Pick { seq: 1, reuse: 4 }));
        // The whole prompt is held: its last token is decoded again.
        assert_eq!(c.pick(all, &[1, 2, 3, 4]), Some(Pick { seq: 1, reuse: 3 }));
        // A running sequence is not offered.
        assert_eq!(c.pick(|id| id != 1, &[1, 2, 3, 4, 8]), Some(Pick { seq: 0, reuse: 3 }));
    }

    #[test]
    fn without_a_shared_prefix_the_least_recently_used_is_evicted() {
        let mut c = PrefixCache::new(3, 1);
        c.release(2, vec![5]);
        c.release(0, vec![6]);
        c.release(1, vec![7]);
        assert_eq!(c.pick(|_| true, &[1, 2]), Some(Pick { seq: 2, reuse: 0 }));
        c.take(2);
        c.release(2, vec![1, 2, 3]);
        assert_eq!(c.pick(|_| true, &[4]), Some(Pick { seq: 0, reuse: 0 }));
        assert_eq!(c.pick(|_| false, &[4]), None);
    }

    #[test]
    fn reuse_is_whole_chunks() {
        let mut c = PrefixCache::new(1, 4);
        c.release(0, (0..20).collect());
        let prompt: Vec<i32> = (0..11).chain([99]).collect();
        assert_eq!(c.pick(|_| true, &prompt), Some(Pick { seq: 0, reuse: 8 }));
        assert_eq!(c.pick(|_| true, &[0, 1, 2]), Some(Pick { seq: 0, reuse: 0 }));
    }

    #[test]
    fn prefixes_are_compared_token_by_token() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2]), 2);
    }
}
