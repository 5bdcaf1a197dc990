//! [`Conn::step`]: the client's bytes, one frame at a time. Connection errors are
//! answered with GOAWAY (and returned); stream errors with RST_STREAM.

use super::frame::{self, Frame, MAX_WINDOW};
use super::head::Head;
use super::state::{Conn, Partial, DEFAULT_WINDOW, DRAIN_PING, EMPTY_FRAMES, PREFACE};
use super::stream::Stream;
use super::{H2Error, Reason};

/// What one step did.
#[derive(Debug)]
pub enum Step<'a> {
    /// Not a whole frame in the buffer: read more.
    More,
    /// The first `used` bytes were one frame, dealt with here.
    Done(usize),
    /// The first `used` bytes ended a new request's head: stream `id`, its head
    /// decoded (borrowed until the next step). `end_stream`: it has no body.
    Request {
        used: usize,
        id: u32,
        head: &'a Head,
        end_stream: bool,
    },
}

/// A header block put together from CONTINUATION frames, at most this many times
/// the header list's limit (a literal costs a few bytes more than its field counts;
/// an indexed field far less): past it, the client is flooding.
const BLOCK_FACTOR: usize = 2;
/// A header list over this many times the limit closes the connection (under it, the
/// stream alone is answered 431: the client may have misjudged the limit).
const BOMB: usize = 4;

impl Conn {
    /// Take the first frame of `buf`. `Err`: a connection error (GOAWAY is in the
    /// output; close once it is written).
    pub fn step(&mut self, buf: &[u8]) -> Result<Step<'_>, Reason> {
        if let Some(r) = self.failed {
            return Err(r);
        }
        if self.preface > 0 {
            return self.preface(buf);
        }
        let (frame, used) = match frame::parse(buf, self.limits.max_frame_size) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(Step::More),
            Err(H2Error::Conn(r)) | Err(H2Error::Stream(_, r)) => return Err(self.fail(r)),
        };
        if let Some(p) = &self.partial {
            if !matches!(frame, Frame::Continuation { id, .. } if id == p.id) {
                return Err(self.fail(Reason::PROTOCOL_ERROR));
            }
        }
        if !self.settings_seen && !matches!(frame, Frame::Settings { ack: false, .. }) {
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        }
        match frame {
            Frame::Headers {
                id,
                block,
                end_stream,
                end_headers,
            } => self.headers(used, id, block, end_stream, end_headers),
            Frame::Continuation {
                id,
                block,
                end_headers,
            } => self.continuation(used, id, block, end_headers),
            Frame::Data { id, data, end, len } => {
                self.data(id, data, end, len).map(|()| Step::Done(used))
            }
            Frame::Reset { id, reason } => self.reset_frame(id, reason).map(|()| Step::Done(used)),
            Frame::Settings { ack, params } => {
                self.settings(ack, params).map(|()| Step::Done(used))
            }
            Frame::Ping { ack, payload } => {
                if !ack {
                    self.control()?;
                    frame::write_ping(&mut self.out, true, payload);
                    self.wake_writer();
                } else if self.draining && payload == DRAIN_PING {
                    self.go_away(Reason::NO_ERROR);
                }
                Ok(Step::Done(used))
            }
            Frame::GoAway { .. } => {
                self.peer_gone = true;
                Ok(Step::Done(used))
            }
            Frame::WindowUpdate { id, increment } => {
                self.window_update(id, increment).map(|()| Step::Done(used))
            }
            // (No RST_STREAM for a stream never opened, §6.4: the connection's error.)
            Frame::Invalid { id, reason } if id > self.last_id => Err(self.fail(reason)),
            Frame::Invalid { id, reason } => {
                self.stream_error(id, reason).map(|()| Step::Done(used))
            }
            Frame::Priority | Frame::Unknown => Ok(Step::Done(used)),
        }
    }

    fn preface(&mut self, buf: &[u8]) -> Result<Step<'_>, Reason> {
        let at = PREFACE.len() - self.preface;
        let n = buf.len().min(self.preface);
        if buf[..n] != PREFACE[at..at + n] {
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        }
        self.preface -= n;
        match n {
            0 => Ok(Step::More),
            n => Ok(Step::Done(n)),
        }
    }

    fn headers(
        &mut self,
        used: usize,
        id: u32,
        block: &[u8],
        end_stream: bool,
        end_headers: bool,
    ) -> Result<Step<'_>, Reason> {
        if id % 2 == 0 {
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        }
        if end_headers {
            return self.block_done(used, id, block, end_stream);
        }
        self.block.clear();
        self.block.extend_from_slice(block);
        self.partial = Some(Partial { id, end_stream });
        self.block_bound().map(|()| Step::Done(used))
    }

    fn continuation(
        &mut self,
        used: usize,
        id: u32,
        block: &[u8],
        end_headers: bool,
    ) -> Result<Step<'_>, Reason> {
        let Some(p) = self.partial.take_if(|_| end_headers) else {
            if self.partial.is_none() {
                return Err(self.fail(Reason::PROTOCOL_ERROR));
            }
            self.block.extend_from_slice(block);
            return self.block_bound().map(|()| Step::Done(used));
        };
        let mut whole = std::mem::take(&mut self.block);
        whole.extend_from_slice(block);
        let step = self.decode_block(id, &whole, p.end_stream);
        whole.clear();
        self.block = whole;
        match step? {
            true => Ok(self.request(used, id, p.end_stream)),
            false => Ok(Step::Done(used)),
        }
    }

    /// A block being put together past what the limit allows: ENHANCE_YOUR_CALM.
    fn block_bound(&mut self) -> Result<(), Reason> {
        let limit = (self.limits.max_header_list_size as usize).saturating_mul(BLOCK_FACTOR);
        match self.block.len() > limit.max(frame::MIN_FRAME_SIZE as usize) {
            true => Err(self.fail(Reason::ENHANCE_YOUR_CALM)),
            false => Ok(()),
        }
    }

    fn block_done(
        &mut self,
        used: usize,
        id: u32,
        block: &[u8],
        end_stream: bool,
    ) -> Result<Step<'_>, Reason> {
        match self.decode_block(id, block, end_stream)? {
            true => Ok(self.request(used, id, end_stream)),
            false => Ok(Step::Done(used)),
        }
    }

    fn request(&self, used: usize, id: u32, end_stream: bool) -> Step<'_> {
        Step::Request {
            used,
            id,
            head: &self.head,
            end_stream,
        }
    }

    /// A whole header block on stream `id`, decoded (always: the dynamic table must
    /// stay in step). `Ok(true)`: a new request, its stream opened.
    fn decode_block(&mut self, id: u32, block: &[u8], end_stream: bool) -> Result<bool, Reason> {
        let limit = self.limits.max_header_list_size as usize;
        let trailers = id <= self.last_id;
        if let Err(r) = self.head.decode(&mut self.decoder, block, limit, trailers) {
            return Err(self.fail(r));
        }
        if self.head.list_size() / BOMB > limit {
            // An HPACK bomb: a few bytes that decode to a list many times the limit.
            return Err(self.fail(Reason::ENHANCE_YOUR_CALM));
        }
        if trailers {
            self.trailers(id, end_stream)?;
            return Ok(false);
        }
        self.last_id = id;
        if self.going_away.is_some_and(|last| id > last) {
            return Ok(false);
        }
        if self.streams.len() >= self.limits.max_concurrent_streams as usize {
            // (Not counted with this side's resets: a client that just saw a stream
            // end may open the next one before this side has forgotten it.)
            self.control()?;
            frame::write_reset(&mut self.out, id, Reason::REFUSED_STREAM);
            self.recent.push(id);
            self.wake_writer();
            return Ok(false);
        }
        let window = self.stream_window();
        self.streams
            .insert(Stream::new(id, end_stream, window, self.peer_window));
        Ok(true)
    }

    /// A header block on a stream opened before: its trailers, which must end it. On a
    /// stream no longer open (this side is done with it, or reset it), ignored.
    fn trailers(&mut self, id: u32, end_stream: bool) -> Result<(), Reason> {
        let Some(s) = self.streams.get(id) else {
            // A stream this side reset or gave up while the client was still sending
            // may get its trailers late: ignored. Any other is a stream ID used again.
            let ignored = self.going_away.is_some_and(|last| id > last);
            if self.recent.contains(&id) || ignored {
                return Ok(());
            }
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        };
        if !s.recv_open {
            // Reset by this side: the client's frames in flight are ignored. After the
            // client's own RST_STREAM, or its END_STREAM: STREAM_CLOSED (§5.1).
            if s.reset.is_some() && !s.reset_by_peer {
                return Ok(());
            }
            return self.stream_error(id, Reason::STREAM_CLOSED);
        }
        if !end_stream || self.head.malformed().is_some() || self.head.too_large() {
            return self.stream_error(id, Reason::PROTOCOL_ERROR);
        }
        let fields = self
            .head
            .fields()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        s.trailers = Some(Box::new(fields));
        s.recv_open = false;
        s.wake();
        Ok(())
    }

    fn data(&mut self, id: u32, data: &[u8], end: bool, len: u32) -> Result<(), Reason> {
        if i64::from(len) > self.recv_window {
            return Err(self.fail(Reason::FLOW_CONTROL_ERROR));
        }
        self.recv_window -= i64::from(len);
        let padding = len - data.len() as u32;
        if id > self.last_id {
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        }
        let Some(s) = self.streams.get(id) else {
            // A stream this side is done with: what was in flight is dropped.
            self.release_conn(len);
            return Ok(());
        };
        if !s.recv_open || i64::from(len) > s.recv_window {
            let reset = s.reset.is_some();
            let why = match s.recv_open {
                true => Reason::FLOW_CONTROL_ERROR,
                false => Reason::STREAM_CLOSED,
            };
            self.release_conn(len);
            return match reset {
                true => Ok(()),
                false => self.stream_error(id, why),
            };
        }
        s.recv_window -= i64::from(len);
        if !data.is_empty() {
            s.push_body(data);
        }
        s.held += len;
        if end {
            s.recv_open = false;
        }
        s.wake();
        let empty = data.is_empty() && !end;
        // (The padding is given back at once.)
        if padding > 0 {
            self.release(id, padding);
        }
        if empty {
            self.empty_frames += 1;
            if self.empty_frames > EMPTY_FRAMES {
                return Err(self.fail(Reason::ENHANCE_YOUR_CALM));
            }
        }
        Ok(())
    }

    fn reset_frame(&mut self, id: u32, reason: Reason) -> Result<(), Reason> {
        if id > self.last_id {
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        }
        if let Some(s) = self.streams.get(id) {
            if s.reset.is_none() {
                s.reset_by_peer = true;
            }
            s.close(reason);
        }
        Ok(())
    }

    fn settings(&mut self, ack: bool, params: &[u8]) -> Result<(), Reason> {
        if ack {
            if !self.acked {
                self.settings_acked();
            }
            return Ok(());
        }
        self.settings_seen = true;
        for (key, value) in frame::settings(params) {
            match key {
                frame::ENABLE_PUSH if value > 1 => return Err(self.fail(Reason::PROTOCOL_ERROR)),
                frame::INITIAL_WINDOW_SIZE => self.peer_initial_window(value)?,
                frame::MAX_FRAME_SIZE => {
                    if !(frame::MIN_FRAME_SIZE..=frame::MAX_FRAME_SIZE_LIMIT).contains(&value) {
                        return Err(self.fail(Reason::PROTOCOL_ERROR));
                    }
                    self.peer_frame = value;
                }
                _ => {}
            }
        }
        self.control()?;
        frame::write_settings_ack(&mut self.out);
        self.wake_writer();
        Ok(())
    }

    /// A new stream's receive window: until the client acknowledges this side's
    /// SETTINGS it may use the default 65,535 (§6.9.2); a larger configured window
    /// counts at once (the client may only send less).
    fn stream_window(&self) -> u32 {
        match self.acked {
            true => self.limits.initial_window_size,
            false => self.limits.initial_window_size.max(DEFAULT_WINDOW),
        }
    }

    /// This side's SETTINGS are in force: the dynamic table may not grow past the size
    /// it advertised (RFC 7541 §4.2), and a window below the default now holds for the
    /// streams opened before, by the difference (§6.9.2: it may go negative).
    fn settings_acked(&mut self) {
        let before = self.stream_window();
        self.acked = true;
        self.decoder.allow(self.limits.header_table_size as usize);
        let delta = i64::from(self.limits.initial_window_size) - i64::from(before);
        if delta != 0 {
            for s in self.streams.iter_mut() {
                s.recv_window += delta;
            }
        }
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE changed: every stream's window by the difference
    /// (§6.9.2).
    fn peer_initial_window(&mut self, value: u32) -> Result<(), Reason> {
        if value > MAX_WINDOW {
            return Err(self.fail(Reason::FLOW_CONTROL_ERROR));
        }
        let delta = i64::from(value) - i64::from(self.peer_window);
        self.peer_window = value;
        let mut overflow = false;
        for s in self.streams.iter_mut() {
            s.send_window += delta;
            overflow |= s.send_window > i64::from(MAX_WINDOW);
        }
        if overflow {
            return Err(self.fail(Reason::FLOW_CONTROL_ERROR));
        }
        if delta > 0 {
            self.wake_blocked();
        }
        Ok(())
    }

    fn window_update(&mut self, id: u32, increment: u32) -> Result<(), Reason> {
        if id == 0 {
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(MAX_WINDOW) {
                return Err(self.fail(Reason::FLOW_CONTROL_ERROR));
            }
            self.wake_blocked();
            return Ok(());
        }
        if id > self.last_id {
            return Err(self.fail(Reason::PROTOCOL_ERROR));
        }
        let Some(s) = self.streams.get(id) else {
            return Ok(());
        };
        s.send_window += i64::from(increment);
        if s.send_window > i64::from(MAX_WINDOW) {
            return self.stream_error(id, Reason::FLOW_CONTROL_ERROR);
        }
        if s.blocked {
            s.blocked = false;
            s.wake();
        }
        Ok(())
    }
}
