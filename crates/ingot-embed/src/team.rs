//! A spinning fork-join team for one forward pass.
//!
//! At batch 1 a forward pass is about thirty parallel loops of 10-50 µs each, with a little
//! serial work between them. Rayon's idle workers fall asleep in those gaps, and waking one
//! (a futex round trip) costs about as much as the loop it was woken for: two threads ran a
//! short sentence only 10 % faster than one. A [`Team`] keeps every thread of the current
//! rayon pool in one loop for the whole pass instead:
//!
//! - [`with_team`] runs the pass on the calling thread and sends every other thread of the
//!   pool into [`Team::help`] until the pass returns;
//! - [`Team::run`] publishes a job (a task count and a closure), and every member, the caller
//!   included, takes task indices from one atomic counter until none is left;
//! - between jobs the helpers spin, then yield the core. A helper idle for longer than
//!   [`PARK_AFTER`] (on a busy machine) sleeps until the next job, and waiters yield rather
//!   than spin once a short spin is over, so a team shares the cores instead of burning them;
//! - the helpers leave when the pass ends, and rayon's usual sleep takes over between passes.
//!
//! Inside a team no rayon parallel loop may run: the helpers are busy in `help`, so it would
//! run on the caller alone. The encoder passes an [`Exec`] down instead: `Exec::Team` inside a
//! team, `Exec::Rayon` on the f32 path, whose `gemm` calls parallelise over rayon themselves.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// A job's body: called once with each task index.
type Body<'a> = &'a (dyn Fn(usize) + Sync);

/// The threads of one forward pass; see the module docs.
pub(crate) struct Team {
    /// The open job's body, its lifetime erased: written by `run` only while no member can
    /// read it (closed, `active == 0`), read by members only while `open`.
    job: UnsafeCell<Option<Body<'static>>>,
    tasks: AtomicUsize,
    open: AtomicBool,
    /// The counters each sit on their own cache line: one written by both cores must not
    /// drag the lines the other core is polling with it.
    /// The next task index to hand out.
    next: Line<AtomicUsize>,
    /// Tasks finished in the open job (each member adds its count as it leaves the job).
    done: Line<AtomicUsize>,
    /// Helpers inside a job (between their check of `open` and their exit).
    active: Line<AtomicUsize>,
    /// Set when the pass ends: helpers return.
    stop: Line<AtomicBool>,
    /// The first panic of a task in the open job, raised again by `run`.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Helpers asleep (or about to be) until the next job or the end of the pass.
    sleeping: Mutex<Vec<Thread>>,
}

/// How long an idle helper spins and yields before it sleeps until the next job: longer than
/// the serial work between two loops of an uncontended pass (tens of microseconds), so only a
/// busy machine puts it to sleep.
const PARK_AFTER: Duration = Duration::from_micros(200);

/// Waiting for another member: spin a little, then yield the core at every turn. On a busy
/// machine the member waited for may be descheduled, and a waiter that kept spinning would
/// hold the very core it needs.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    /// Spins before the first yield (a few microseconds).
    const SPINS: u32 = 256;

    /// Whether the spinning is over (each snooze now yields).
    fn yielding(&self) -> bool {
        self.0 >= Self::SPINS
    }

    fn snooze(&mut self) {
        if self.0 < Self::SPINS {
            self.0 += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// A value alone on its cache line pair (the adjacent-line prefetcher pulls lines in twos).
#[repr(align(128))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: the only non-Sync field is `job`. `run` writes it only while `open` is false and
// `active` is 0, and a helper reads it only after it has counted itself in `active` and then
// seen `open` true (both SeqCst), so a write never overlaps a read: see `run`.
#[expect(
    unsafe_code,
    reason = "the job slot is guarded by the open/active protocol"
)]
unsafe impl Sync for Team {}

impl Team {
    fn new() -> Self {
        Self {
            job: UnsafeCell::new(None),
            tasks: AtomicUsize::new(0),
            open: AtomicBool::new(false),
            next: Line(AtomicUsize::new(0)),
            done: Line(AtomicUsize::new(0)),
            active: Line(AtomicUsize::new(0)),
            stop: Line(AtomicBool::new(false)),
            panic: Mutex::new(None),
            sleeping: Mutex::new(Vec::new()),
        }
    }

    /// Calls `body(i)` for every `i < tasks`, spread over the team; returns when all have
    /// returned. A panic in any task is raised here once all have finished.
    pub fn run(&self, tasks: usize, body: &(dyn Fn(usize) + Sync)) {
        if tasks <= 1 {
            (0..tasks).for_each(body);
            return;
        }
        #[expect(unsafe_code, reason = "publishing a borrowed closure to the helpers")]
        // SAFETY: no member reads the slot now: the last job was closed and `active` was seen
        // at 0 before the last `run` returned, and a helper that enters later sees `open`
        // false until the store below. The erased lifetime is never outlived: the slot is
        // cleared before this function returns, after every member that saw the job open has
        // left it (`active` back to 0 after `open` is false), and a panic in the caller's own
        // tasks is caught and re-raised only after that wait.
        unsafe {
            *self.job.get() = Some(std::mem::transmute::<Body<'_>, Body<'static>>(body));
        }
        self.tasks.store(tasks, Ordering::Relaxed);
        self.next.store(0, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.open.store(true, Ordering::SeqCst);
        self.wake();
        self.work(body, tasks);
        let mut wait = Backoff::default();
        while self.done.load(Ordering::Acquire) < tasks {
            wait.snooze();
        }
        // Close, then wait out helpers that entered: a helper counts itself in `active`
        // before it looks at `open`, so it either sees the job closed or is waited for here.
        self.open.store(false, Ordering::SeqCst);
        while self.active.load(Ordering::SeqCst) != 0 {
            wait.snooze();
        }
        #[expect(unsafe_code, reason = "clearing the job slot")]
        // SAFETY: closed and `active == 0`: no member reads the slot (see above).
        unsafe {
            *self.job.get() = None;
        }
        if let Some(p) = self.panic.lock().ok().and_then(|mut p| p.take()) {
            resume_unwind(p);
        }
    }

    /// Takes task indices until none is left, then adds the count it ran to `done`; a
    /// panicking task is recorded and counted done.
    fn work(&self, body: Body<'_>, tasks: usize) {
        let mut ran = 0;
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= tasks {
                break;
            }
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| body(i)))
                && let Ok(mut first) = self.panic.lock()
            {
                first.get_or_insert(p);
            }
            ran += 1;
        }
        if ran > 0 {
            self.done.fetch_add(ran, Ordering::Release);
        }
    }

    /// Sleeps until the next job opens or the pass ends (or spuriously: the caller loops).
    fn park(&self) {
        if let Ok(mut sleeping) = self.sleeping.lock() {
            sleeping.push(std::thread::current());
        }
        // `run` and `with_team` store `open` or `stop` before `wake` takes the lock: either
        // `wake` finds this helper in `sleeping` and unparks it, or it ran first and this
        // helper sees the store here. A wake-up token left over from an earlier job only
        // makes one `park` return at once: the helper loop checks again.
        let work = self.open.load(Ordering::SeqCst)
            && self.next.load(Ordering::Relaxed) < self.tasks.load(Ordering::Relaxed);
        if !work && !self.stop.load(Ordering::SeqCst) {
            std::thread::park();
        }
    }

    /// Wakes the helpers that went to sleep (after a job opened or the pass ended).
    fn wake(&self) {
        let sleeping = match self.sleeping.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => return,
        };
        for t in sleeping {
            t.unpark();
        }
    }

    /// A helper's loop: join each open job that has tasks left, spin otherwise, return when
    /// the pass ends.
    fn help(&self) {
        let mut idle = Backoff::default();
        let mut since = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let tasks = self.tasks.load(Ordering::Relaxed);
            if !self.open.load(Ordering::Relaxed) || self.next.load(Ordering::Relaxed) >= tasks {
                idle.snooze();
                if idle.yielding() && since.elapsed() >= PARK_AFTER {
                    self.park();
                    since = Instant::now();
                }
                continue;
            }
            idle = Backoff::default();
            since = Instant::now();
            self.active.fetch_add(1, Ordering::SeqCst);
            if self.open.load(Ordering::SeqCst) {
                #[expect(unsafe_code, reason = "reading the published job")]
                // SAFETY: counted in `active` and the job seen open: `run` wrote the slot
                // before opening and neither rewrites nor returns until this helper leaves.
                let job = unsafe { *self.job.get() };
                if let Some(body) = job {
                    self.work(body, self.tasks.load(Ordering::Relaxed));
                }
            }
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Runs `pass` on this thread with every other thread of the current rayon pool in its team
/// until it returns. `pass` must not run rayon parallel loops itself (see the module docs).
pub(crate) fn with_team<R: Send>(pass: impl FnOnce(&Team) -> R + Send) -> R {
    let team = Team::new();
    let helpers = rayon::current_num_threads().saturating_sub(1);
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| team.help());
        }
        let out = catch_unwind(AssertUnwindSafe(|| pass(&team)));
        team.stop.store(true, Ordering::SeqCst);
        team.wake();
        out.unwrap_or_else(|p| resume_unwind(p))
    })
}

/// Where a forward pass runs its parallel loops.
#[derive(Clone, Copy)]
pub(crate) enum Exec<'a> {
    /// Rayon's parallel iterators over the current pool.
    Rayon,
    /// A [`Team`] (no rayon loop may run inside it).
    Team(&'a Team),
}

impl Exec<'_> {
    /// `body(i)` for each `i < tasks`, in parallel.
    pub fn for_each(self, tasks: usize, body: impl Fn(usize) + Sync + Send) {
        match self {
            Exec::Rayon => (0..tasks).into_par_iter().for_each(body),
            Exec::Team(t) => t.run(tasks, &body),
        }
    }

    /// `body(part)` for each of `parts`, in parallel.
    pub fn each_mut<T: Send>(self, parts: Vec<T>, body: impl Fn(T) + Sync + Send) {
        let done: Result<(), std::convert::Infallible> = self.try_each_mut(parts, |_, p| {
            body(p);
            Ok(())
        });
        let Ok(()) = done;
    }

    /// `body(i, part)` for each of `parts`, in parallel; the first error is returned.
    pub fn try_each_mut<T: Send, E: Send>(
        self,
        parts: Vec<T>,
        body: impl Fn(usize, T) -> Result<(), E> + Sync + Send,
    ) -> Result<(), E> {
        match self {
            Exec::Rayon => parts
                .into_par_iter()
                .enumerate()
                .try_for_each(|(i, p)| body(i, p)),
            Exec::Team(t) => {
                let slots: Vec<Mutex<Option<T>>> =
                    parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
                let first_err: Mutex<Option<E>> = Mutex::new(None);
                t.run(slots.len(), &|i| {
                    let part = slots[i].lock().ok().and_then(|mut s| s.take());
                    if let Some(part) = part
                        && let Err(e) = body(i, part)
                        && let Ok(mut slot) = first_err.lock()
                    {
                        slot.get_or_insert(e);
                    }
                });
                match first_err.into_inner() {
                    Ok(Some(e)) => Err(e),
                    _ => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn every_task_runs_once_in_every_job() {
        for threads in [1, 2, 4] {
            let counts: Vec<AtomicU64> = (0..257).map(|_| AtomicU64::new(0)).collect();
            let rounds = 2000;
            pool(threads).install(|| {
                with_team(|team| {
                    for r in 0..rounds {
                        let tasks = r % counts.len();
                        team.run(tasks, &|i| {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                })
            });
            for (i, c) in counts.iter().enumerate() {
                let want = (0..rounds).filter(|r| i < r % counts.len()).count() as u64;
                assert_eq!(
                    c.load(Ordering::Relaxed),
                    want,
                    "task {i}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn helpers_that_fell_asleep_wake_for_the_next_job_and_for_the_end() {
        let counts: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
        let helped = AtomicU64::new(0);
        let caller = std::thread::current().id();
        pool(2).install(|| {
            with_team(|team| {
                for _ in 0..20 {
                    // Longer than `PARK_AFTER`: the helper goes to sleep between jobs.
                    std::thread::sleep(PARK_AFTER * 3);
                    team.run(counts.len(), &|i| {
                        if std::thread::current().id() != caller {
                            helped.fetch_add(1, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_micros(200));
                        counts[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                // And the pass ends while it sleeps: `with_team` must still return.
                std::thread::sleep(PARK_AFTER * 3);
            })
        });
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 20));
        assert!(
            helped.load(Ordering::Relaxed) > 0,
            "the helper took part after waking"
        );
    }

    #[test]
    fn a_job_sees_the_previous_jobs_writes() {
        let cells: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(0)).collect();
        pool(2).install(|| {
            with_team(|team| {
                for step in 1..500u64 {
                    team.run(cells.len(), &|i| {
                        // Every cell of the last job must be finished before this one opens.
                        let prev = cells[(i + 1) % cells.len()].load(Ordering::Relaxed);
                        assert_eq!(prev, step - 1);
                    });
                    team.run(cells.len(), &|i| {
                        cells[i].store(step, Ordering::Relaxed);
                    });
                }
            })
        });
    }

    #[test]
    fn a_panicking_task_is_raised_after_the_job() {
        let finished = AtomicUsize::new(0);
        let got = std::panic::catch_unwind(AssertUnwindSafe(|| {
            pool(2).install(|| {
                with_team(|team| {
                    team.run(16, &|i| {
                        if i == 3 {
                            panic!("task 3");
                        }
                        finished.fetch_add(1, Ordering::Relaxed);
                    })
                })
            })
        }));
        assert!(got.is_err());
        assert_eq!(finished.load(Ordering::Relaxed), 15);
        // The pool is usable afterwards.
        let n = pool(2).install(|| {
            with_team(|team| {
                let c = AtomicUsize::new(0);
                team.run(10, &|_| {
                    c.fetch_add(1, Ordering::Relaxed);
                });
                c.into_inner()
            })
        });
        assert_eq!(n, 10);
    }

    #[test]
    fn exec_parts_report_the_first_error_and_fill_the_rest() {
        for threads in [1, 2] {
            let mut data = [0u32; 40];
            let res = pool(threads).install(|| {
                with_team(|team| {
                    let parts: Vec<&mut [u32]> = data.chunks_mut(4).collect();
                    Exec::Team(team).try_each_mut(parts, |i, part| {
                        part.iter_mut().for_each(|v| *v = i as u32);
                        if i == 7 { Err(i) } else { Ok(()) }
                    })
                })
            });
            assert_eq!(res, Err(7));
            assert!(
                data.chunks(4)
                    .enumerate()
                    .all(|(i, c)| c.iter().all(|&v| v == i as u32))
            );
        }
    }
}
