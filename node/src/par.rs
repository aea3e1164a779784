//! A batch's work split over the machine's cores.
//!
//! Upward sync is a chain of steps that each handle one batch at a time, in order: the
//! child reads its outbox, the parent re-checks the batch, then commits it. On a machine
//! with cores to spare, a step that works record by record finishes sooner when the
//! records of its batch are shared out; the order of the results is kept.

use std::sync::OnceLock;

/// Parts shorter than this are not worth a thread of their own.
const MIN_PART: usize = 128;

/// The cores this process may use, read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Splits `items` into contiguous parts, one per core and each at least [`MIN_PART`]
/// long, runs `work` on every part at once (the first on the calling thread) and answers
/// the results in the parts' order. A panic in `work` is raised again here.
pub fn in_parts<T: Send, R: Send>(items: Vec<T>, work: impl Fn(Vec<T>) -> R + Sync) -> Vec<R> {
    let parts = cores().min(items.len() / MIN_PART).max(1);
    if parts == 1 {
        return vec![work(items)];
    }
    let size = items.len().div_ceil(parts);
    // Split from the end, so that each item is moved once.
    let mut rest = items;
    let mut chunks = Vec::with_capacity(parts);
    while rest.len() > size {
        let at = (rest.len() - 1) / size * size;
        chunks.push(rest.split_off(at));
    }
    chunks.push(rest);
    chunks.reverse();
    let mut chunks = chunks.into_iter();
    let first = chunks.next().unwrap_or_default();
    let work = &work;
    std::thread::scope(|scope| {
        let others: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        let mut results = Vec::with_capacity(parts);
        results.push(work(first));
        for other in others {
            match other.join() {
                Ok(result) => results.push(result),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_the_order_of_the_items() {
        for n in [0, 1, MIN_PART - 1, MIN_PART * 2, MIN_PART * 5 + 3] {
            let items: Vec<usize> = (0..n).collect();
            let parts = in_parts(items.clone(), |part| {
                part.iter().map(|i| i * 2).collect::<Vec<_>>()
            });
            assert!(parts.iter().all(|p| p.len() >= MIN_PART.min(n)));
            let joined: Vec<usize> = parts.into_iter().flatten().collect();
            assert_eq!(joined, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}
