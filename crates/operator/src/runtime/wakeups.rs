//! Wake-ups in batches. A thread of the runtime that runs out of work waits in the kernel for the
//! next answer or watch event; each time it is woken it pays a system call, a context switch and
//! caches refilled after whatever else ran on the core, which on a busy machine costs more than
//! handling one event. Under load a thread that goes idle sooner than the interval after its last
//! wake-up first sleeps for the rest of it, so that everything that arrives meanwhile is taken in
//! one wake-up, and the controller's scheduler folds the changes of one application into one
//! reconcile. A thread that has been idle for longer answers its next event at once.
//!
//! What it costs is latency: up to one interval on each step that waits for the API server.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The default of `--min-wakeup-interval`: about a quarter less CPU per application than none
/// in the bench, for a few milliseconds more between the steps of a submission. 3 ms saved a
/// tenth more CPU but took the median create-to-driver-pod time of 200 submissions a second to
/// 17-21 ms, past the 20 ms the operator is held to; 2 ms keeps it at 15-19 (bench/README.md).
pub const DEFAULT_MIN_WAKEUP_INTERVAL: Duration = Duration::from_millis(2);

thread_local! {
    static LAST_WAKEUP: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How long a thread that woke at `woke` and goes idle at `now` sleeps before it waits in the
/// kernel again.
fn rest(interval: Duration, woke: Option<Instant>, now: Instant) -> Option<Duration> {
    let awake = now.checked_duration_since(woke?)?;
    interval.checked_sub(awake).filter(|rest| !rest.is_zero())
}

/// Makes the threads of the runtime `builder` builds wake at most once per `interval` while
/// they are busy; a zero interval leaves the builder as it is.
pub fn batched(
    builder: &mut tokio::runtime::Builder,
    interval: Duration,
) -> &mut tokio::runtime::Builder {
    if interval.is_zero() {
        return builder;
    }
    builder
        .on_thread_unpark(|| LAST_WAKEUP.with(|last| last.set(Some(Instant::now()))))
        .on_thread_park(move || {
            if let Some(rest) = rest(interval, LAST_WAKEUP.with(Cell::get), Instant::now()) {
                std::thread::sleep(rest);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;

    #[test]
    fn an_idle_thread_goes_back_to_the_kernel_at_once() {
        let interval = Duration::from_millis(5);
        let woke = Instant::now();
        let soon = woke + Duration::from_millis(2);
        assert_eq!(
            rest(interval, Some(woke), soon),
            Some(Duration::from_millis(3))
        );
        assert_eq!(rest(interval, Some(woke), woke + interval), None);
        assert_eq!(rest(interval, Some(woke), woke + interval * 3), None);
        assert_eq!(rest(interval, None, soon), None, "never woken yet");
    }

    /// Parks of a current-thread runtime (`interval` apart at the least) that reads `bytes`
    /// bytes a peer writes one at a time, 100 µs apart: (parks, time taken).
    fn parks_reading(interval: Duration, bytes: usize) -> (u64, Duration) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let address = listener.local_addr().expect("address");
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accepted");
            stream.set_nodelay(true).expect("nodelay");
            for _ in 0..bytes {
                stream.write_all(b"x").expect("written");
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        let mut builder = tokio::runtime::Builder::new_current_thread();
        let runtime = batched(&mut builder, interval)
            .enable_all()
            .build()
            .expect("runtime");
        let started = Instant::now();
        let parks_before = runtime.metrics().worker_park_count(0);
        runtime.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(address)
                .await
                .expect("connected");
            let mut read = 0;
            let mut buffer = [0u8; 64];
            while read < bytes {
                read += stream.read(&mut buffer).await.expect("read");
            }
        });
        let parks = runtime.metrics().worker_park_count(0) - parks_before;
        peer.join().expect("peer ends");
        (parks, started.elapsed())
    }

    #[test]
    fn a_busy_thread_takes_what_arrived_meanwhile_in_one_wakeup() {
        let interval = Duration::from_millis(5);
        let (parks, took) = parks_reading(interval, 300);
        // 300 bytes come over at least 30 ms; one wake-up per interval reads all that came.
        let most = took.as_millis() as u64 / interval.as_millis() as u64 + 3;
        assert!(
            parks <= most,
            "{parks} parks in {took:?}, at most {most} expected"
        );
    }
}
