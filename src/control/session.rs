//! One control connection, as a pure state machine: bytes in, requests and input out; answers,
//! log bytes and an attached instance's output queued within a byte budget. The server
//! (`runtime/control.rs`) only moves bytes between this and the socket, so every bound and
//! every decision about a hostile or slow client is here, unit-tested without a socket.
//!
//! A connection starts waiting for its request line ([`REQUEST_TIMEOUT`], [`MAX_REQUEST`]
//! bytes). Then it is one of:
//! - answered: the answer is queued and the connection closes once it is sent;
//! - a reader of the tail (`logs`, `logs -f`): fed from the [`Tail`] as its queue drains, so
//!   a tail larger than the budget streams at the client's pace. A reader that falls behind
//!   what the tail keeps is skipped forward (`logs -f`: to the live end) with one line saying
//!   how many bytes it missed;
//! - attached to an instance: frames in, the instance's output out; what does not fit the
//!   budget is dropped and counted (a slow client never slows the stack).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::attach::{Frame, take_frames};
use super::protocol::{
    FRAME_HEAD_MAX, LIVE, Layout, MAX_LABEL, MAX_REQUEST, NOTE, Request, frame_head,
};
use crate::output::Tail;

/// Bytes a connection may have waiting to be sent: a reader is fed no further, an attached
/// client's output is dropped past it.
pub const QUEUE_BUDGET: usize = 64 * 1024;
/// A connection must send its whole request line within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest input frame an attached client may send.
const MAX_FRAME: usize = 64 * 1024;

/// What a connection brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Request(Request),
    /// Input for the attached instance.
    Input(usize, Vec<u8>),
    /// The attached client's terminal size.
    Size {
        instance: usize,
        rows: u16,
        cols: u16,
    },
}

/// A reader of the tail: `logs` (up to where the tail ended when it asked) or `logs -f`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// Instances whose lines it wants; empty: all. Lines about the whole stack always go.
    pub instances: Vec<usize>,
    /// The offset of the next byte to send.
    pub at: u64,
    /// `logs`: where it ends. `logs -f`: never.
    pub until: Option<u64>,
    /// A framed reader's labels and layout (`logs --since --grep -n --json`).
    pub framing: Option<Framing>,
}

/// What a framed reader needs: each piece goes in a frame naming its instance and time (see
/// `protocol::frame_head`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// Each instance's label, by index; `system` stands for the whole stack.
    pub labels: Vec<String>,
    /// Told in the header, so the client can take prefixes off.
    pub layout: Layout,
    /// Following: the end of the tail when it asked, where a [`LIVE`] frame is due (sent
    /// once, then `None`).
    pub live_at: Option<u64>,
}

impl Framing {
    fn label(&self, owner: Option<usize>) -> &str {
        let label = owner
            .and_then(|i| self.labels.get(i))
            .map_or("system", String::as_str);
        &label[..label.len().min(MAX_LABEL)]
    }
}

impl Reader {
    /// True for bytes about one of its instances, or about the whole stack.
    pub fn wants(&self, owner: Option<usize>) -> bool {
        self.instances.is_empty() || owner.is_none_or(|i| self.instances.contains(&i))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for the request line.
    Request,
    /// The request was read; the server has not said yet what the connection becomes.
    Asked,
    /// Answered: closes once the queue is sent.
    Answered,
    Reading(Reader),
    Attached(usize),
}

#[derive(Debug)]
pub struct Session {
    phase: Phase,
    opened: Instant,
    /// A request line, or attached frames, not complete yet.
    input: Vec<u8>,
    /// Bytes to send: a ring that never holds more than the budget (but for a one-shot
    /// answer), so its memory is the budget at most.
    queue: VecDeque<u8>,
    /// The last byte queued ended a line (a note starts on a line of its own).
    at_line_start: bool,
    /// Attached output dropped because the client did not keep up.
    dropped: u64,
    /// Bytes the client sent after its request, which nothing reads.
    ignored: usize,
}

impl Session {
    pub fn new(now: Instant) -> Session {
        Session {
            phase: Phase::Request,
            opened: now,
            input: Vec::new(),
            queue: VecDeque::new(),
            at_line_start: true,
            dropped: 0,
            ignored: 0,
        }
    }

    /// Takes bytes from the client. A bad request or frame is answered with an error, and
    /// what comes after an answer is ignored.
    pub fn received(&mut self, bytes: &[u8]) -> Vec<Incoming> {
        match self.phase {
            Phase::Request => self.request_bytes(bytes).into_iter().collect(),
            Phase::Attached(instance) => self.frames(instance, bytes),
            Phase::Asked | Phase::Answered | Phase::Reading(_) => {
                // A client that keeps sending after its request is not one of procmux's.
                self.ignored += bytes.len();
                if self.ignored > MAX_REQUEST {
                    self.phase = Phase::Answered;
                    self.queue.clear();
                }
                Vec::new()
            }
        }
    }

    fn request_bytes(&mut self, bytes: &[u8]) -> Option<Incoming> {
        let room = MAX_REQUEST + 1 - self.input.len();
        self.input
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        let Some(end) = memchr::memchr(b'\n', &self.input) else {
            if self.input.len() > MAX_REQUEST {
                self.error("request too long");
            }
            return None;
        };
        let parsed = Request::parse(&self.input[..end]);
        self.input = Vec::new();
        match parsed {
            Ok(request) => {
                // Until the server says what it is, nothing more is read as a request.
                self.phase = Phase::Asked;
                Some(Incoming::Request(request))
            }
            Err(message) => {
                self.error(&message);
                None
            }
        }
    }

    fn frames(&mut self, instance: usize, bytes: &[u8]) -> Vec<Incoming> {
        self.input.extend_from_slice(bytes);
        match take_frames(&mut self.input, MAX_FRAME) {
            Ok(frames) => frames
                .into_iter()
                .map(|frame| match frame {
                    Frame::Input(bytes) => Incoming::Input(instance, bytes),
                    Frame::Size { rows, cols } => Incoming::Size {
                        instance,
                        rows,
                        cols,
                    },
                })
                .collect(),
            Err(message) => {
                self.input = Vec::new();
                self.error(&message);
                Vec::new()
            }
        }
    }

    /// Answers with `message` as an error line; the connection closes once it is sent.
    pub fn error(&mut self, message: &str) {
        let message = message.replace('\n', " ");
        self.push(format!("error\t{message}\n").as_bytes());
        self.phase = Phase::Answered;
    }

    /// Answers `ok` with `body`; the connection closes once it is sent. A body is as large
    /// as the stack's status at most, never the tail's size (that is a [`Reader`]'s).
    pub fn answer(&mut self, body: &[u8]) {
        self.push(b"ok\n");
        self.push(body);
        self.phase = Phase::Answered;
    }

    /// Makes this connection a reader of the tail; a framed one is told the layout
    /// (`ok text 18 color`).
    pub fn read(&mut self, reader: Reader) {
        match &reader.framing {
            Some(framing) => self.push(format!("ok {}\n", framing.layout.words()).as_bytes()),
            None => self.push(b"ok\n"),
        }
        self.phase = Phase::Reading(reader);
    }

    /// Makes this connection a session with `instance`, telling the client how to talk
    /// (`ok pty`: keys; `ok pipe`: lines).
    pub fn attach(&mut self, instance: usize, pty: bool) {
        self.phase = Phase::Attached(instance);
        self.push(if pty { b"ok pty\n" } else { b"ok pipe\n" });
    }

    /// The instance this connection is attached to.
    pub fn attached(&self) -> Option<usize> {
        match self.phase {
            Phase::Attached(instance) => Some(instance),
            _ => None,
        }
    }

    /// Queues output of the attached instance, as far as the budget allows; the rest is
    /// dropped and counted.
    pub fn mirror(&mut self, bytes: &[u8]) {
        let room = QUEUE_BUDGET.saturating_sub(self.waiting());
        let n = bytes.len().min(room);
        self.push(&bytes[..n]);
        self.dropped += (bytes.len() - n) as u64;
    }

    /// Bytes of attached output dropped so far.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The attached instance ended: say `message` and close.
    pub fn end_attached(&mut self, message: &str) {
        self.push(message.as_bytes());
        self.phase = Phase::Answered;
    }

    /// A reader takes what the tail got since it last did, as far as its budget allows. A
    /// reader whose queue is full costs nothing here: it is called every turn.
    pub fn feed(&mut self, tail: &Tail) {
        /// Room enough for the note below, framed or not.
        const NOTE_ROOM: usize = 128 + FRAME_HEAD_MAX;
        let room = self.room();
        let Phase::Reading(reader) = &mut self.phase else {
            return;
        };
        if reader
            .until
            .is_some_and(|until| reader.at >= until.min(tail.end()))
        {
            self.phase = Phase::Answered;
            return;
        }
        if room < NOTE_ROOM {
            return;
        }
        self.live_frame();
        let Phase::Reading(reader) = &mut self.phase else {
            return;
        };
        if reader.at >= tail.end() {
            return;
        }
        if reader.at < tail.start() {
            // Fell behind what the tail keeps: skip forward, and say so once, on a line of
            // its own.
            let to = match reader.until {
                Some(_) => tail.start(),
                None => tail.end(),
            };
            let newline = if self.at_line_start { "" } else { "\n" };
            let skipped = to - reader.at;
            reader.at = to;
            let note = match &reader.framing {
                Some(_) => {
                    let text = format!("{skipped} bytes skipped here: this reader fell behind");
                    format!("{}{text}", frame_head(text.len(), 0, true, NOTE))
                }
                None => format!(
                    "{newline}procmux: {skipped} bytes skipped here: this reader fell behind\n"
                ),
            };
            self.push(note.as_bytes());
        }
        let Phase::Reading(reader) = &mut self.phase else {
            return;
        };
        let mut until = reader.until.unwrap_or(u64::MAX);
        if let Some(live_at) = reader.framing.as_ref().and_then(|f| f.live_at) {
            // The past first, then the LIVE frame, then what is new.
            until = until.min(live_at);
        }
        let room = QUEUE_BUDGET.saturating_sub(self.queue.len());
        let (queue, wants) = (&mut self.queue, |owner| reader.wants(owner));
        let mut last = None;
        reader.at = match &reader.framing {
            None => tail.copy(reader.at, until, room, wants, &mut |bytes: &[u8]| {
                queue.extend(bytes);
                last = bytes.last().copied().or(last);
            }),
            Some(framing) => {
                let out = &mut |piece: crate::output::Piece, bytes: &[u8]| {
                    let label = framing.label(piece.owner);
                    let head = frame_head(bytes.len(), piece.millis, piece.own, label);
                    queue.extend(head.as_bytes());
                    queue.extend(bytes);
                };
                tail.copy_pieces(reader.at, until, room, FRAME_HEAD_MAX, wants, out)
            }
        };
        let finished = reader
            .until
            .is_some_and(|until| reader.at >= until.min(tail.end()));
        if let Some(last) = last {
            self.at_line_start = last == b'\n';
        }
        if self.room() >= FRAME_HEAD_MAX {
            self.live_frame();
        }
        if finished {
            self.phase = Phase::Answered;
        }
    }

    /// A framed follower that has been given the past gets its [`LIVE`] frame, once.
    fn live_frame(&mut self) {
        let Phase::Reading(reader) = &mut self.phase else {
            return;
        };
        let Some(framing) = &mut reader.framing else {
            return;
        };
        if framing.live_at.is_some_and(|live_at| reader.at >= live_at) {
            framing.live_at = None;
            self.push(frame_head(0, 0, true, LIVE).as_bytes());
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes);
        if let Some(&last) = bytes.last() {
            self.at_line_start = last == b'\n';
        }
    }

    fn room(&self) -> usize {
        QUEUE_BUDGET.saturating_sub(self.queue.len())
    }

    /// Bytes waiting to be sent (the first contiguous part of them).
    pub fn pending(&self) -> &[u8] {
        let (first, second) = self.queue.as_slices();
        if first.is_empty() { second } else { first }
    }

    fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The socket took `n` bytes of [`Session::pending`].
    pub fn sent(&mut self, n: usize) {
        self.queue.drain(..n.min(self.queue.len()));
    }

    /// True once the connection has said all it will: close it.
    pub fn finished(&self) -> bool {
        self.phase == Phase::Answered && self.waiting() == 0
    }

    /// When it must have sent its request by, while it has not.
    pub fn deadline(&self) -> Option<Instant> {
        (self.phase == Phase::Request).then(|| self.opened + REQUEST_TIMEOUT)
    }

    /// True for a connection that stays open (`logs -f`, `attach`): they are capped, so that
    /// short requests always find a slot.
    pub fn is_long_lived(&self) -> bool {
        match &self.phase {
            Phase::Reading(reader) => reader.until.is_none(),
            Phase::Attached(_) => true,
            _ => false,
        }
    }

    /// Which connection goes first when a slot is needed, lowest first; `None`: keep it.
    /// `blocked`: its socket took nothing last time (the client does not read).
    /// 0: it never sent its request; 1: it does not read what it asked for; 2: a follower;
    /// 3: an answer or a `logs` being sent. An attached session is never evicted.
    pub fn eviction_rank(&self, blocked: bool) -> Option<u8> {
        match &self.phase {
            Phase::Request => Some(0),
            Phase::Attached(_) | Phase::Asked => None,
            _ if blocked => Some(1),
            Phase::Reading(reader) if reader.until.is_none() => Some(2),
            Phase::Reading(_) | Phase::Answered => Some(3),
        }
    }

    /// The connection's age, to break ties between equal ranks (the oldest goes).
    pub fn opened(&self) -> Instant {
        self.opened
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use super::super::attach::{input_frame, size_frame};
    use super::*;

    fn session() -> Session {
        Session::new(Instant::now())
    }

    /// Everything waiting, across the ring's wrap.
    fn text(session: &Session) -> String {
        let (a, b) = session.queue.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }

    /// The client reads everything waiting.
    fn drain(session: &mut Session) {
        while !session.pending().is_empty() {
            session.sent(session.pending().len());
        }
    }

    fn tail_with(lines: &[(usize, &str)], budget: usize) -> Tail {
        let mut tail = Tail::new(budget);
        for (owner, line) in lines {
            tail.record(Some(*owner), &[IoSlice::new(line.as_bytes())]);
        }
        tail
    }

    #[test]
    fn hostile_request_bytes_get_an_error_and_a_close() {
        let long = vec![b'a'; MAX_REQUEST + 10];
        let cases: [(&[u8], &str); 7] = [
            (b"\n", "error\tempty request\n"),
            (b"rm -rf\n", "error\tunknown request \"rm\"\n"),
            (b"logs caf\xe9\n", "error\ta request is text\n"),
            (b"\0\0\0\n", "error\tunknown request \"\\0\\0\\0\"\n"),
            (b"restart $(x)\n", "error\tnot a process name: \"$(x)\"\n"),
            (&long, "error\trequest too long\n"),
            (b"status web\n", "error\tstatus takes no name\n"),
        ];
        for (bytes, answer) in cases {
            let mut s = session();
            assert_eq!(s.received(bytes), []);
            assert_eq!(text(&s), answer, "{bytes:?}");
            drain(&mut s);
            assert!(s.finished());
        }
    }

    #[test]
    fn a_request_may_come_in_pieces_and_what_follows_is_ignored() {
        let mut s = session();
        assert_eq!(s.received(b"sta"), []);
        assert!(s.deadline().is_some());
        assert_eq!(
            s.received(b"tus\nstop\n"),
            [Incoming::Request(Request::Status)]
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(s.received(b"stop\n"), []);
        // 10 MiB after the request: nothing is kept, and the connection is ended.
        assert_eq!(s.received(&vec![b'x'; 10 << 20]), []);
        assert!(s.input.capacity() <= MAX_REQUEST + 1);
        assert!(s.finished());
    }

    #[test]
    fn garbage_without_a_newline_is_bounded() {
        let mut s = session();
        s.received(&[b'x'; 5000]);
        assert!(s.input.len() <= MAX_REQUEST + 1);
        assert_eq!(text(&s), "error\trequest too long\n");
        // It keeps sending: the connection ends, not a byte kept.
        for _ in 0..1000 {
            s.received(&[b'x'; 1000]);
        }
        assert!(s.input.len() <= MAX_REQUEST + 1 && s.finished());
    }

    #[test]
    fn a_silent_connection_has_a_deadline_and_goes_first() {
        let now = Instant::now();
        let s = Session::new(now);
        assert_eq!(s.deadline(), Some(now + REQUEST_TIMEOUT));
        assert_eq!(s.eviction_rank(false), Some(0));
        assert!(!s.is_long_lived());
    }

    #[test]
    fn logs_streams_a_tail_larger_than_the_budget_in_order() {
        let line = "x".repeat(99) + "\n";
        let lines: Vec<(usize, &str)> = (0..40_000).map(|i| (i % 2, line.as_str())).collect();
        let tail = tail_with(&lines, 8 << 20);
        let mut s = session();
        s.read(Reader {
            instances: vec![],
            at: 0,
            until: Some(tail.end()),
            framing: None,
        });
        let mut got = 0;
        while !s.finished() {
            s.feed(&tail);
            assert!(s.queue.len() <= QUEUE_BUDGET);
            got += s.queue.len();
            drain(&mut s);
        }
        assert_eq!(got, 4_000_000 + 3);
    }

    #[test]
    fn logs_of_an_empty_tail_ends_at_once() {
        for tail in [Tail::new(0), tail_with(&[(0, "a\n")], 0), Tail::new(1024)] {
            let mut s = session();
            s.read(Reader {
                instances: vec![],
                at: tail.start(),
                until: Some(tail.end()),
                framing: None,
            });
            s.feed(&tail);
            assert_eq!(text(&s), "ok\n");
            drain(&mut s);
            assert!(s.finished());
        }
    }

    #[test]
    fn logs_of_some_instances() {
        let tail = tail_with(&[(0, "a\n"), (1, "b\n"), (0, "c\n")], 1024);
        let mut s = session();
        s.read(Reader {
            instances: vec![0],
            at: 0,
            until: Some(tail.end()),
            framing: None,
        });
        s.feed(&tail);
        assert_eq!(text(&s), "ok\na\nc\n");
        drain(&mut s);
        assert!(s.finished());
    }

    fn framing(live_at: Option<u64>) -> Option<Framing> {
        Some(Framing {
            labels: vec!["web.1".into(), "worker.1".into()],
            layout: Layout::Text {
                width: 18,
                color: false,
            },
            live_at,
        })
    }

    /// A framed `logs` of the whole tail.
    fn framed_logs(tail: &Tail) -> Session {
        let mut s = session();
        s.read(Reader {
            instances: vec![],
            at: 0,
            until: Some(tail.end()),
            framing: framing(None),
        });
        s
    }

    #[test]
    fn a_framed_reader_gets_each_piece_with_its_instance_and_time() {
        let mut tail = Tail::new(1024);
        tail.stamp(1000, false);
        tail.record(Some(0), &[IoSlice::new(b"a\n")]);
        tail.record(None, &[IoSlice::new(b"sys\n")]);
        tail.stamp(2000, false);
        tail.record(Some(1), &[IoSlice::new(b"b\nc\n")]);
        let mut s = framed_logs(&tail);
        s.feed(&tail);
        assert_eq!(
            text(&s),
            "ok text 18\n2 1000 o web.1\na\n4 1000 o system\nsys\n4 2000 o worker.1\nb\nc\n"
        );
        drain(&mut s);
        assert!(s.finished());

        // Following: the past, the LIVE frame, then what is new.
        let mut s = session();
        s.read(Reader {
            instances: vec![1],
            at: 0,
            until: None,
            framing: framing(Some(tail.end())),
        });
        s.feed(&tail);
        assert_eq!(
            text(&s),
            "ok text 18\n4 1000 o system\nsys\n4 2000 o worker.1\nb\nc\n0 0 p @live\n"
        );
        drain(&mut s);
        tail.record(Some(0), &[IoSlice::new(b"not wanted\n")]);
        tail.record(Some(1), &[IoSlice::new(b"d\n")]);
        s.feed(&tail);
        assert_eq!(text(&s), "2 2000 o worker.1\nd\n");
        // An empty past: LIVE at once.
        let empty = Tail::new(1024);
        let mut s = session();
        s.read(Reader {
            instances: vec![],
            at: 0,
            until: None,
            framing: framing(Some(0)),
        });
        s.feed(&empty);
        assert_eq!(text(&s), "ok text 18\n0 0 p @live\n");
    }

    #[test]
    fn framed_pieces_stay_within_the_budget_however_short_the_runs() {
        // One run per line (owners alternate): a frame head per two bytes.
        let lines: Vec<(usize, &str)> = (0..100_000).map(|i| (i % 2, "x\n")).collect();
        let tail = tail_with(&lines, 1 << 20);
        let mut s = framed_logs(&tail);
        let mut got = Vec::new();
        while !s.finished() {
            s.feed(&tail);
            assert!(s.queue.len() <= QUEUE_BUDGET, "{}", s.queue.len());
            got.extend(s.queue.drain(..));
        }
        let text = String::from_utf8(got).unwrap();
        assert_eq!(text.matches("\nx\n").count(), 100_000);
    }

    /// A follower fed 2 MB of lines it never reads.
    fn flooded_follower(framing: Option<Framing>) -> (Tail, Session) {
        let mut tail = Tail::new(1024 * 1024);
        let mut s = session();
        s.read(Reader {
            instances: vec![],
            at: 0,
            until: None,
            framing,
        });
        let line = [b'y'; 1000];
        for _ in 0..2000 {
            tail.record(Some(0), &[IoSlice::new(&line), IoSlice::new(b"\n")]);
            s.feed(&tail);
            assert!(s.queue.len() <= QUEUE_BUDGET);
        }
        (tail, s)
    }

    #[test]
    fn a_framed_follower_that_does_not_read_gets_a_note_frame() {
        let (tail, mut s) = flooded_follower(framing(Some(0)));
        assert!(text(&s).starts_with("ok text 18\n0 0 p @live\n1001 0 o web.1\nyyy"));
        drain(&mut s);
        s.feed(&tail);
        let note = text(&s);
        let head = note.lines().next().unwrap();
        let (len, _, own, label) = super::super::protocol::parse_frame_head(head).unwrap();
        assert!(own && label == NOTE, "{head}");
        assert_eq!(note.len(), head.len() + 1 + len);
        assert!(note.ends_with("bytes skipped here: this reader fell behind"));
    }

    #[test]
    fn a_follower_that_does_not_read_is_skipped_forward_once() {
        let (mut tail, mut s) = flooded_follower(None);
        assert!(s.is_long_lived());
        assert_eq!(
            (s.eviction_rank(true), s.eviction_rank(false)),
            (Some(1), Some(2))
        );
        // The client reads again: one note, on a line of its own, then the live end.
        drain(&mut s);
        s.feed(&tail);
        assert!(text(&s).starts_with("\nprocmux: "), "{}", &text(&s)[..40]);
        assert_eq!(text(&s).matches("skipped").count(), 1);
        drain(&mut s);
        tail.record(Some(0), &[IoSlice::new(b"new\n")]);
        s.feed(&tail);
        assert_eq!(text(&s), "new\n");
        // Many more turns without reading: never a second note while it cannot be sent.
        for _ in 0..1000 {
            s.feed(&tail);
        }
        assert_eq!(text(&s), "new\n");
    }

    #[test]
    fn attached_sessions_take_frames_and_drop_what_does_not_fit() {
        let mut s = session();
        s.received(b"attach web\n");
        s.attach(3, true);
        assert_eq!(text(&s), "ok pty\n");
        let mut bytes = input_frame(b"p x\r");
        bytes.extend(size_frame(40, 120));
        assert_eq!(
            s.received(&bytes),
            [
                Incoming::Input(3, b"p x\r".to_vec()),
                Incoming::Size {
                    instance: 3,
                    rows: 40,
                    cols: 120
                }
            ]
        );
        s.mirror(&vec![b'z'; QUEUE_BUDGET * 2]);
        assert_eq!(s.queue.len(), QUEUE_BUDGET);
        assert_eq!(s.dropped(), QUEUE_BUDGET as u64 + 7);
        // A malformed frame ends the session.
        assert_eq!(s.received(b"?"), []);
        assert_eq!(s.attached(), None);
        let mut huge = b"d".to_vec();
        huge.extend((u32::MAX).to_be_bytes());
        let mut t = session();
        t.received(b"attach web\n");
        t.attach(0, false);
        assert_eq!(t.received(&huge), []);
        assert!(text(&t).ends_with("error\tinput frame too long\n"));
    }
}
