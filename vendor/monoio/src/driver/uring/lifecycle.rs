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
        // ringlb patch: a completion with IORING_CQE_F_MORE is not the last of its
        // operation (multishot): the slot stays, whatever its state, and an owner
        // waiting is woken. Only the final one completes (or frees an ignored slot).
        if io_uring::cqueue::more(flags) {
            let ref_mut = &mut *self;
            match std::mem::replace(ref_mut, Lifecycle::Fired) {
                Lifecycle::Waiting(waker) => waker.wake(),
                Lifecycle::Submitted | Lifecycle::Fired => {}
                // Kept until the final completion (which a cancel brings).
                kept @ (Lifecycle::Ignored(..) | Lifecycle::Completed(..)) => *ref_mut = kept,
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
            Lifecycle::Completed(..) => {}
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
            Lifecycle::Fired => return Poll::Pending,
            _ => {}
        }

        match self.remove() {
            Lifecycle::Completed(result, flags) => Poll::Ready(CompletionMeta { result, flags }),
            _ => unsafe { std::hint::unreachable_unchecked() },
        }
    }

    // return if the op must has been finished
    pub(crate) fn drop_op<T: 'static>(mut self, data: &mut Option<T>) -> bool {
        let ref_mut = &mut *self;
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
        }
        true
    }
}
