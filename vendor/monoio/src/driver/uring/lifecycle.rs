//! Uring state lifecycle.
//! Partly borrow from tokio-uring.

use std::{
    io,
    task::{Context, Poll, Waker},
};

use crate::{driver::op::CompletionMeta, utils::slab::Ref};

pub(crate) enum Lifecycle {
    /// The operation has been submitted to uring and is currently in-flight
    Submitted,

    /// The submitter is waiting for the completion of the operation
    Waiting(Waker),

    /// The submitter no longer has interest in the operation result. The state
    /// must be passed to the driver and held until the operation completes.
    #[allow(dead_code)]
    Ignored(Box<dyn std::any::Any>),

    /// The operation has completed.
    Completed(io::Result<u32>, u32),

    // ringlb patch: a multishot operation (`OpAble` ops that set `IORING_POLL_ADD_MULTI`
    // and the like) posted one or more completions carrying `IORING_CQE_F_MORE`: the
    // kernel keeps the operation, and will post more under the same user_data, so the
    // slot stays. Nobody is woken again until the owner polls (`poll_multi`).
    /// A multishot operation fired (at least once since its owner last looked) and is
    /// still in flight.
    Fired,

    // ringlb patch: a multishot operation whose every completion carries a result its
    // owner must see (multishot accept: each one a new descriptor). They queue here in
    // order, the final one included; see `ResultQueue`.
    /// A multishot operation whose results queue until the owner takes them.
    Queued(Box<ResultQueue>),
}

// ringlb patch: the results of a multishot operation that makes descriptors
// (`IORING_ACCEPT_MULTISHOT`), kept in the slot until the owner takes them. None is ever
// lost: after the owner dropped the operation (`orphan`), a descriptor that still comes
// (accepted before the cancel took effect) is closed, as are those queued but not taken.
/// Results of a multishot operation whose successful results are new descriptors.
#[derive(Default)]
pub(crate) struct ResultQueue {
    results: std::collections::VecDeque<io::Result<u32>>,
    /// The final completion (no `IORING_CQE_F_MORE`) is the last of `results`.
    ended: bool,
    waker: Option<Waker>,
    /// The owner dropped the operation: its data, kept until the final completion.
    #[allow(dead_code)]
    orphan: Option<Box<dyn std::any::Any>>,
}

impl ResultQueue {
    /// Note one completion. Returns true when the slot can be freed (an orphan's end).
    fn push(&mut self, result: io::Result<u32>, last: bool) -> bool {
        if self.orphan.is_some() {
            close_descriptor(&result);
            return last;
        }
        self.results.push_back(result);
        self.ended |= last;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        false
    }

    /// Close the descriptors queued and not taken.
    fn close_all(&mut self) {
        for result in self.results.drain(..) {
            close_descriptor(&result);
        }
    }
}

/// A result that is a descriptor nobody will take: closed.
fn close_descriptor(result: &io::Result<u32>) {
    if let Ok(fd) = result {
        // SAFETY: the kernel made this descriptor for this operation, and nobody
        // else holds it.
        unsafe { libc::close(*fd as i32) };
    }
}

// ringlb patch: what one look at a multishot operation found (`poll_multi`).
/// The state of a multishot operation, as its owner sees it.
#[derive(Debug)]
pub(crate) enum MultiPoll {
    /// Nothing since the last look; still in flight.
    Quiet,
    /// One or more completions came since the last look; still in flight.
    Fired,
    /// The final completion came (no `IORING_CQE_F_MORE`): the slot is freed, the
    /// operation is over.
    Ended(io::Result<u32>),
}

impl<'a> Ref<'a, Lifecycle> {
    pub(crate) fn complete(mut self, result: io::Result<u32>, flags: u32) {
        // ringlb patch: a result queue keeps every completion's result (see ResultQueue).
        if let Lifecycle::Queued(queue) = &mut *self {
            if queue.push(result, !io_uring::cqueue::more(flags)) {
                self.remove();
            }
            return;
        }
        // ringlb patch: a completion with IORING_CQE_F_MORE is not the last of its
        // operation (multishot): the slot stays, whatever its state, and an owner
        // waiting is woken. Only the final one completes (or frees an ignored slot).
        if io_uring::cqueue::more(flags) {
            let ref_mut = &mut *self;
            match std::mem::replace(ref_mut, Lifecycle::Fired) {
                Lifecycle::Waiting(waker) => waker.wake(),
                Lifecycle::Submitted | Lifecycle::Fired => {}
                // Kept until the final completion (which a cancel brings).
                kept @ (Lifecycle::Ignored(..)
                | Lifecycle::Completed(..)
                | Lifecycle::Queued(_)) => *ref_mut = kept,
            }
            return;
        }
        let ref_mut = &mut *self;
        match ref_mut {
            Lifecycle::Submitted | Lifecycle::Fired => {
                *ref_mut = Lifecycle::Completed(result, flags);
            }
            Lifecycle::Waiting(_) => {
                let old = std::mem::replace(ref_mut, Lifecycle::Completed(result, flags));
                if let Lifecycle::Waiting(waker) = old {
                    waker.wake();
                }
            }
            Lifecycle::Ignored(..) => {
                self.remove();
            }
            // ringlb patch: not reachable (the kernel posts nothing after a final
            // completion), but no longer undefined behaviour if it were: kept as is.
            // (A result queue is handled above.)
            Lifecycle::Completed(..) | Lifecycle::Queued(_) => {}
        }
    }

    // ringlb patch: the owner's look at a multishot operation: whether it fired since
    // the last look (forgotten once reported), or ended (slot freed). `waker`: woken by
    // the next completion; `None`: nobody is woken (the owner looks when it wants).
    pub(crate) fn poll_multi(mut self, waker: Option<&Waker>) -> MultiPoll {
        let ref_mut = &mut *self;
        let fired = match ref_mut {
            Lifecycle::Completed(..) => {
                return match self.remove() {
                    Lifecycle::Completed(result, _) => MultiPoll::Ended(result),
                    _ => MultiPoll::Ended(Err(io::ErrorKind::Other.into())),
                };
            }
            Lifecycle::Fired => true,
            // ringlb patch: a result queue is looked at through `poll_queued`.
            Lifecycle::Queued(_) => false,
            // Not reachable while the owner holds the operation; quiet if it were.
            Lifecycle::Submitted | Lifecycle::Waiting(_) | Lifecycle::Ignored(_) => false,
        };
        if !matches!(ref_mut, Lifecycle::Ignored(_)) {
            *ref_mut = match (waker, std::mem::replace(ref_mut, Lifecycle::Submitted)) {
                (Some(w), Lifecycle::Waiting(old)) if old.will_wake(w) => Lifecycle::Waiting(old),
                (Some(w), _) => Lifecycle::Waiting(w.clone()),
                (None, _) => Lifecycle::Submitted,
            };
        }
        if fired {
            MultiPoll::Fired
        } else {
            MultiPoll::Quiet
        }
    }

    #[allow(clippy::needless_pass_by_ref_mut)]
    pub(crate) fn poll_op(mut self, cx: &mut Context<'_>) -> Poll<CompletionMeta> {
        let ref_mut = &mut *self;
        match ref_mut {
            Lifecycle::Submitted => {
                *ref_mut = Lifecycle::Waiting(cx.waker().clone());
                return Poll::Pending;
            }
            Lifecycle::Waiting(waker) => {
                if !waker.will_wake(cx.waker()) {
                    *ref_mut = Lifecycle::Waiting(cx.waker().clone());
                }
                return Poll::Pending;
            }
            // ringlb patch: a multishot operation is looked at through `poll_multi`,
            // never awaited as a future; pending (not undefined behaviour) if it were.
            Lifecycle::Fired | Lifecycle::Queued(_) => return Poll::Pending,
            _ => {}
        }

        match self.remove() {
            Lifecycle::Completed(result, flags) => Poll::Ready(CompletionMeta { result, flags }),
            _ => unsafe { std::hint::unreachable_unchecked() },
        }
    }

    // ringlb patch: a multishot operation's results are queued from now on (called
    // right after its submission, before any completion can come).
    pub(crate) fn queue_results(mut self) {
        let ref_mut = &mut *self;
        if matches!(ref_mut, Lifecycle::Submitted) {
            *ref_mut = Lifecycle::Queued(Box::default());
        }
    }

    // ringlb patch: the owner takes the next result of a result queue, in order.
    // `Ready(None)`: the final result was taken, the operation is over (slot freed).
    pub(crate) fn poll_queued(mut self, waker: &Waker) -> Poll<Option<io::Result<u32>>> {
        let Lifecycle::Queued(queue) = &mut *self else {
            return Poll::Ready(None);
        };
        if let Some(result) = queue.results.pop_front() {
            return Poll::Ready(Some(result));
        }
        if queue.ended {
            self.remove();
            return Poll::Ready(None);
        }
        match &queue.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => queue.waker = Some(waker.clone()),
        }
        Poll::Pending
    }

    // return if the op must has been finished
    pub(crate) fn drop_op<T: 'static>(mut self, data: &mut Option<T>) -> bool {
        let ref_mut = &mut *self;
        // ringlb patch: a result queue closes what its owner did not take; in flight,
        // it keeps the data and closes what still comes until the final completion.
        if let Lifecycle::Queued(queue) = ref_mut {
            queue.close_all();
            if queue.ended {
                self.remove();
                return true;
            }
            queue.orphan = Some(match data.take() {
                Some(data) => Box::new(data),
                None => Box::new(()),
            });
            return false;
        }
        match ref_mut {
            // ringlb patch: a multishot operation that fired is still in flight too.
            Lifecycle::Submitted | Lifecycle::Waiting(_) | Lifecycle::Fired => {
                if let Some(data) = data.take() {
                    *ref_mut = Lifecycle::Ignored(Box::new(data));
                } else {
                    *ref_mut = Lifecycle::Ignored(Box::new(())); // () is a ZST, so it does not
                                                                 // allocate
                };
                return false;
            }
            Lifecycle::Completed(..) => {
                self.remove();
            }
            Lifecycle::Ignored(..) => unsafe { std::hint::unreachable_unchecked() },
            // ringlb patch: handled above.
            Lifecycle::Queued(_) => return false,
        }
        true
    }
}
