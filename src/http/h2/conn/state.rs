//! The connection: this side's limits, the client's settings, both connection
//! windows, the frames waiting to be written, and what every frame handler shares
//! (a connection error, a stream error, a window given back).

use std::task::Waker;

use super::frame::{self, MAX_WINDOW};
use super::head::Head;
use super::hpack::Decoder;
use super::stream::Streams;
use super::Reason;

/// This side's limits, advertised in its SETTINGS (the frontend's `h2_*` keys).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_concurrent_streams: u32,
    pub max_header_list_size: u32,
    pub header_table_size: u32,
    pub initial_window_size: u32,
    pub connection_window_size: u32,
    pub max_frame_size: u32,
}

/// DATA is written while the output holds less than this (the senders wait past it).
pub(super) const OUT_DATA: usize = 64 * 1024;
/// Frames this side must answer (SETTINGS and PING acknowledgements, resets) past
/// this much output not taken: the client sends and does not read (a flood).
pub(super) const OUT_CONTROL: usize = OUT_DATA + 64 * 1024;
/// Streams this side may reset for the client's errors before it closes the
/// connection (a client that keeps sending malformed requests).
pub(super) const LOCAL_RESETS: u32 = 256;
/// Empty DATA frames without END_STREAM a client may send (they cost work, carry
/// nothing: a flood).
pub(super) const EMPTY_FRAMES: u32 = 1024;
/// The client's connection preface (§3.4).
pub(super) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The PING sent with the first GOAWAY of a graceful shutdown.
pub(super) const DRAIN_PING: [u8; 8] = *b"ringlbGA";
/// The highest stream identifier (the first GOAWAY of a graceful shutdown).
pub(super) const MAX_STREAM_ID: u32 = (1 << 31) - 1;
/// The client's initial window and frame size until its SETTINGS say otherwise.
pub(super) const DEFAULT_WINDOW: u32 = 65_535;

/// A header block arriving in CONTINUATION frames.
pub(super) struct Partial {
    pub id: u32,
    pub end_stream: bool,
}

pub struct Conn {
    pub(super) limits: Limits,
    pub(super) decoder: Decoder,
    pub(super) head: Head,
    /// A header block being put together from HEADERS and CONTINUATION frames.
    pub(super) block: Vec<u8>,
    pub(super) partial: Option<Partial>,
    pub(super) streams: Streams,
    /// The highest stream the client opened.
    pub(super) last_id: u32,
    /// Bytes of the client's preface still to check.
    pub(super) preface: usize,
    /// The client's first SETTINGS came.
    pub(super) settings_seen: bool,
    /// The client acknowledged this side's SETTINGS: they are in force.
    pub(super) acked: bool,
    pub(super) peer_window: u32,
    pub(super) peer_frame: u32,
    /// The client's window for the connection.
    pub(super) send_window: i64,
    /// What the client may still send on the connection before the next update.
    pub(super) recv_window: i64,
    /// Bytes given back, not yet in a WINDOW_UPDATE.
    pub(super) released: u32,
    pub(super) out: Vec<u8>,
    pub(super) writer: Option<Waker>,
    /// GOAWAY sent: the last stream this side serves.
    pub(super) going_away: Option<u32>,
    /// The first GOAWAY of a graceful shutdown sent (no stream refused yet), with
    /// its PING: the final GOAWAY follows the PING's acknowledgement.
    pub(super) draining: bool,
    /// The client sent GOAWAY.
    pub(super) peer_gone: bool,
    /// A connection error: GOAWAY written, nothing more read.
    pub(super) failed: Option<Reason>,
    pub(super) local_resets: u32,
    pub(super) empty_frames: u32,
    /// The last streams this side reset or gave up before the client was done with
    /// them (frames it had in flight for them are ignored).
    pub(super) recent: Recent,
}

/// The last few stream ids, in a ring.
pub(super) struct Recent {
    ids: [u32; RECENT],
    next: usize,
}

/// Streams remembered in [`Recent`].
const RECENT: usize = 64;

impl Default for Recent {
    fn default() -> Self {
        Recent {
            ids: [0; RECENT],
            next: 0,
        }
    }
}

impl Recent {
    pub fn push(&mut self, id: u32) {
        self.ids[self.next] = id;
        self.next = (self.next + 1) % RECENT;
    }

    pub fn contains(&self, id: &u32) -> bool {
        *id != 0 && self.ids.contains(id)
    }
}

impl Conn {
    /// A connection whose client has not sent its preface yet: this side's SETTINGS
    /// (and the connection window beyond the default) are in the output already.
    pub fn new(limits: Limits) -> Conn {
        // (The client may use the default 4 KiB until it has this side's SETTINGS.)
        let decoder = Decoder::new((limits.header_table_size as usize).max(4096));
        let mut out = Vec::with_capacity(64);
        frame::write_settings(
            &mut out,
            &[
                (frame::HEADER_TABLE_SIZE, limits.header_table_size),
                (frame::MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams),
                (frame::INITIAL_WINDOW_SIZE, limits.initial_window_size),
                (frame::MAX_FRAME_SIZE, limits.max_frame_size),
                (frame::MAX_HEADER_LIST_SIZE, limits.max_header_list_size),
            ],
        );
        let window = limits.connection_window_size.min(MAX_WINDOW);
        if window > DEFAULT_WINDOW {
            frame::write_window_update(&mut out, 0, window - DEFAULT_WINDOW);
        }
        Conn {
            limits,
            decoder,
            head: Head::default(),
            block: Vec::new(),
            partial: None,
            streams: Streams::default(),
            last_id: 0,
            preface: PREFACE.len(),
            settings_seen: false,
            acked: false,
            peer_window: DEFAULT_WINDOW,
            peer_frame: frame::MIN_FRAME_SIZE,
            send_window: i64::from(DEFAULT_WINDOW),
            recv_window: i64::from(window.max(DEFAULT_WINDOW)),
            released: 0,
            out,
            writer: None,
            going_away: None,
            draining: false,
            peer_gone: false,
            failed: None,
            local_resets: 0,
            empty_frames: 0,
            recent: Recent::default(),
        }
    }

    /// Streams open now (served, or not yet given up by the caller).
    pub fn active(&self) -> usize {
        self.streams.len()
    }

    /// The client sent GOAWAY: no new stream will come.
    pub fn peer_gone(&self) -> bool {
        self.peer_gone
    }

    /// A connection error happened (GOAWAY is in the output): close once it is written.
    pub fn failed(&self) -> Option<Reason> {
        self.failed
    }

    /// This side's SETTINGS_MAX_FRAME_SIZE.
    pub fn max_frame_size(&self) -> u32 {
        self.limits.max_frame_size
    }

    /// A connection error: GOAWAY with `reason`, every stream reset; the reason back.
    pub(super) fn fail(&mut self, reason: Reason) -> Reason {
        if self.failed.is_none() {
            self.failed = Some(reason);
            frame::write_goaway(&mut self.out, self.last_id, reason);
            self.wake_writer();
            for s in self.streams.iter_mut() {
                s.close(Reason::CANCEL);
            }
        }
        reason
    }

    /// A stream error: RST_STREAM, the stream (if open) reset. Past LOCAL_RESETS of
    /// them, a connection error.
    pub(super) fn stream_error(&mut self, id: u32, reason: Reason) -> Result<(), Reason> {
        self.local_resets += 1;
        if self.local_resets > LOCAL_RESETS {
            return Err(self.fail(Reason::ENHANCE_YOUR_CALM));
        }
        self.control()?;
        frame::write_reset(&mut self.out, id, reason);
        self.wake_writer();
        self.recent.push(id);
        if let Some(s) = self.streams.get(id) {
            s.close(reason);
        }
        Ok(())
    }

    /// A request this side refused (malformed, or its head too large), counted with
    /// its own resets: past LOCAL_RESETS, a connection error. `Err`: that error.
    pub fn refused(&mut self) -> Result<(), Reason> {
        self.local_resets += 1;
        if self.local_resets > LOCAL_RESETS {
            return Err(self.fail(Reason::ENHANCE_YOUR_CALM));
        }
        self.control()
    }

    /// Bytes of output not yet taken by the writer.
    pub fn out_len(&self) -> usize {
        self.out.len()
    }

    /// Room for a frame this side must answer with; `Err`: a flood (connection error).
    pub(super) fn control(&mut self) -> Result<(), Reason> {
        match self.out.len() > OUT_CONTROL {
            true => Err(self.fail(Reason::ENHANCE_YOUR_CALM)),
            false => Ok(()),
        }
    }

    /// `n` bytes of the connection's window given back (DATA taken, or dropped):
    /// a WINDOW_UPDATE once half the window is.
    pub(super) fn release_conn(&mut self, n: u32) {
        self.released = self.released.saturating_add(n);
        let half = self
            .limits
            .connection_window_size
            .clamp(DEFAULT_WINDOW, MAX_WINDOW)
            / 2;
        if self.released >= half {
            frame::write_window_update(&mut self.out, 0, self.released);
            self.recv_window += i64::from(self.released);
            self.released = 0;
            self.wake_writer();
        }
    }

    pub(super) fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Wake the streams whose last send found no room.
    pub(super) fn wake_blocked(&mut self) {
        for s in self.streams.iter_mut().filter(|s| s.blocked) {
            s.blocked = false;
            s.wake();
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("last_id", &self.last_id)
            .field("active", &self.streams.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
