//! The ring buffer between the capture thread and the analysis, with exact drop accounting.
//!
//! A live source must never wait for the analysis: when the ring is full, pushing a new frame
//! evicts the oldest one and counts it. `ringbuf`'s overwriting push needs both ends of the ring,
//! so the ring sits behind a mutex that is held only for one push or one pop (never while a frame
//! is analysed); a condition variable wakes the consumer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use ringbuf::HeapRb;
use ringbuf::traits::Observer;

/// Counters of a [`FrameRing`], readable at any time from any thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DropStats {
    pub capacity: usize,
    /// Items ever pushed (including those later dropped).
    pub pushed: u64,
    /// Items evicted unread because the consumer fell behind.
    pub dropped: u64,
    /// Items handed to the consumer.
    pub popped: u64,
    /// Items waiting now.
    pub queued: usize,
    /// The most items ever waiting at once.
    pub high_water: usize,
}

/// What [`FrameRing::pop_timeout`] found.
#[derive(Debug, PartialEq)]
pub enum Pop<T> {
    Item(T),
    /// Nothing arrived within the timeout; the producer is still running.
    Empty,
    /// The producer has closed the ring and everything in it has been read.
    Closed,
}

pub struct FrameRing<T> {
    ring: Mutex<HeapRb<T>>,
    changed: Condvar,
    capacity: usize,
    closed: AtomicBool,
    pushed: AtomicU64,
    dropped: AtomicU64,
    popped: AtomicU64,
    high_water: AtomicU64,
}

impl<T> FrameRing<T> {
    /// A ring holding at most `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            ring: Mutex::new(HeapRb::new(capacity)),
            changed: Condvar::new(),
            capacity,
            closed: AtomicBool::new(false),
            pushed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            popped: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HeapRb<T>> {
        // A panic elsewhere cannot leave the ring half-updated: recover the guard.
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn after_push(&self, queued: usize) {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        self.high_water.fetch_max(queued as u64, Ordering::Relaxed);
        self.changed.notify_all();
    }

    /// Pushes without ever waiting for the consumer; when full, the oldest item is evicted,
    /// counted as dropped and returned (so the caller decides where it is freed).
    pub fn push_overwrite(&self, item: T) -> Option<T> {
        let (evicted, queued) = {
            let mut ring = self.lock();
            let evicted = ring.push_overwrite(item);
            (evicted, ring.occupied_len())
        };
        if evicted.is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.after_push(queued);
        evicted
    }

    /// Pushes, waiting for room: only for offline sources (a file read as fast as possible),
    /// where waiting loses nothing. Returns the item back if the ring was closed meanwhile.
    pub fn push_wait(&self, item: T) -> Result<(), T> {
        let mut ring = self.lock();
        while ring.is_full() {
            if self.closed.load(Ordering::Acquire) {
                return Err(item);
            }
            ring = self.changed.wait_timeout(ring, Duration::from_millis(50)).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
        let _ = ring.try_push(item);
        let queued = ring.occupied_len();
        drop(ring);
        self.after_push(queued);
        Ok(())
    }

    /// Takes the oldest item, waiting up to `timeout` for one.
    pub fn pop_timeout(&self, timeout: Duration) -> Pop<T> {
        let mut ring = self.lock();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(item) = ring.try_pop() {
                drop(ring);
                self.popped.fetch_add(1, Ordering::Relaxed);
                self.changed.notify_all();
                return Pop::Item(item);
            }
            if self.closed.load(Ordering::Acquire) {
                return Pop::Closed;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Pop::Empty;
            }
            ring = self.changed.wait_timeout(ring, deadline - now).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }

    /// No more pushes will come; the consumer drains what is left, then sees [`Pop::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Take the lock so a consumer between its check and its wait cannot miss the wake-up.
        drop(self.lock());
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> DropStats {
        let queued = self.lock().occupied_len();
        DropStats {
            capacity: self.capacity,
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            popped: self.popped.load(Ordering::Relaxed),
            queued,
            high_water: self.high_water.load(Ordering::Relaxed) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// Counts live instances, to show that memory stays bounded by the ring's capacity.
    struct Tracked {
        id: u64,
        live: Arc<AtomicUsize>,
        _payload: Vec<u8>,
    }

    impl Tracked {
        fn new(id: u64, live: &Arc<AtomicUsize>) -> Self {
            live.fetch_add(1, Ordering::SeqCst);
            Self { id, live: live.clone(), _payload: vec![0; 64 * 1024] }
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn slow_consumer_drops_oldest_with_exact_count_and_bounded_memory() {
        const CAPACITY: usize = 8;
        const TOTAL: u64 = 2_000;
        let ring = Arc::new(FrameRing::<Tracked>::new(CAPACITY));
        let live = Arc::new(AtomicUsize::new(0));

        let consumer = {
            let ring = ring.clone();
            let live = live.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut max_live = 0;
                loop {
                    match ring.pop_timeout(Duration::from_millis(100)) {
                        Pop::Item(item) => {
                            seen.push(item.id);
                            max_live = max_live.max(live.load(Ordering::SeqCst));
                            // A consumer far slower than the producer.
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Pop::Empty => continue,
                        Pop::Closed => break,
                    }
                }
                (seen, max_live)
            })
        };

        let started = Instant::now();
        let mut slowest_push = Duration::ZERO;
        for id in 0..TOTAL {
            let item = Tracked::new(id, &live);
            let push_started = Instant::now();
            let evicted = ring.push_overwrite(item);
            slowest_push = slowest_push.max(push_started.elapsed());
            drop(evicted);
            assert!(live.load(Ordering::SeqCst) <= CAPACITY + 2, "memory grew past the ring");
        }
        let producer_time = started.elapsed();
        ring.close();
        let (seen, max_live) = consumer.join().unwrap();

        let stats = ring.stats();
        assert_eq!(stats.pushed, TOTAL);
        assert_eq!(stats.popped, seen.len() as u64);
        assert_eq!(stats.dropped, TOTAL - seen.len() as u64, "every frame is either read or counted");
        assert!(stats.dropped > TOTAL / 2, "the slow consumer must have lost most frames: {stats:?}");
        assert_eq!(stats.queued, 0);
        assert!(stats.high_water <= CAPACITY);
        assert!(max_live <= CAPACITY + 2, "live items {max_live}");
        assert_eq!(live.load(Ordering::SeqCst), 0, "everything freed");
        // Drop-oldest: what the consumer saw is increasing, and ends with the newest frames.
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*seen.last().unwrap(), TOTAL - 1);
        // The producer never waited for the 2 ms consumer: 2000 pushes would take 4 s if it had.
        assert!(producer_time < Duration::from_millis(1_000), "producer took {producer_time:?}");
        assert!(slowest_push < Duration::from_millis(50), "a push took {slowest_push:?}");
    }

    #[test]
    fn push_wait_is_lossless() {
        let ring = Arc::new(FrameRing::<u64>::new(4));
        let producer = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    ring.push_wait(i).unwrap();
                }
                ring.close();
            })
        };
        let mut got = Vec::new();
        loop {
            match ring.pop_timeout(Duration::from_millis(200)) {
                Pop::Item(i) => got.push(i),
                Pop::Empty => {}
                Pop::Closed => break,
            }
        }
        producer.join().unwrap();
        assert_eq!(got, (0..500).collect::<Vec<_>>());
        assert_eq!(ring.stats().dropped, 0);
    }

    #[test]
    fn closed_ring_drains_then_reports_closed() {
        let ring = FrameRing::new(3);
        ring.push_overwrite(1);
        ring.push_overwrite(2);
        ring.close();
        assert_eq!(ring.pop_timeout(Duration::ZERO), Pop::Item(1));
        assert_eq!(ring.pop_timeout(Duration::ZERO), Pop::Item(2));
        assert_eq!(ring.pop_timeout(Duration::ZERO), Pop::Closed);
    }
}
