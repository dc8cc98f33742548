//! RFC 6242 message framing, free of I/O: bytes in, whole messages out.
//!
//! base:1.0 ends every message with `]]>]]>`; base:1.1 sends `\n#<len>\n<data>` chunks closed
//! by `\n##\n`. The `<hello>` exchange always uses 1.0; both sides switch to 1.1 afterwards
//! when both offered it. A reply may arrive split at any byte (yuma sends ~1986-byte chunks,
//! SSH splits them again), so [`Decoder`] buffers until a message is complete.

/// End-of-message marker of base:1.0.
pub const EOM: &[u8] = b"]]>]]>";

/// Largest message accepted; a peer sending more is broken or hostile.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Largest chunk size RFC 6242 allows (4294967295), as a digit count bound.
const MAX_CHUNK_DIGITS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// base:1.0, `]]>]]>` delimited.
    EndOfMessage,
    /// base:1.1, chunked.
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("malformed chunk header: {0}")]
    BadChunkHeader(String),
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
}

/// Frames one message for the wire.
pub fn encode(framing: Framing, message: &[u8]) -> Vec<u8> {
    match framing {
        Framing::EndOfMessage => {
            let mut out = Vec::with_capacity(message.len() + EOM.len());
            out.extend_from_slice(message);
            out.extend_from_slice(EOM);
            out
        }
        Framing::Chunked => {
            let mut out = Vec::with_capacity(message.len() + 24);
            if !message.is_empty() {
                out.extend_from_slice(format!("\n#{}\n", message.len()).as_bytes());
                out.extend_from_slice(message);
            }
            out.extend_from_slice(b"\n##\n");
            out
        }
    }
}

/// Reassembles messages from whatever pieces the transport hands over.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    buf: Vec<u8>,
    /// Bytes of `buf` before this index are consumed. They are dropped at the next `feed`,
    /// not per message: one read holding thousands of small messages would otherwise shift
    /// the rest of the buffer once per message (quadratic).
    start: usize,
    /// Where the `]]>]]>` search resumes (index into `buf`), so a slow reply is not
    /// rescanned from the start.
    scan_from: usize,
    /// Chunked: data of the message being assembled.
    message: Vec<u8>,
    /// Chunked: bytes of the current chunk still to come.
    chunk_left: usize,
    failed: Option<FramingError>,
}

impl Decoder {
    pub fn new(framing: Framing) -> Decoder {
        Decoder {
            framing,
            buf: Vec::new(),
            start: 0,
            scan_from: 0,
            message: Vec::new(),
            chunk_left: 0,
            failed: None,
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Switches framing after the hello exchange; bytes already buffered are read with the
    /// new framing.
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
        self.scan_from = self.start;
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan_from = self.scan_from.saturating_sub(self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a returned message.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start + self.message.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed. After an error the
    /// stream cannot be resynchronised, so every later call returns the same error.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match self.framing {
            Framing::EndOfMessage => self.next_eom(),
            Framing::Chunked => self.next_chunked(),
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn next_eom(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let from = self.scan_from.saturating_sub(EOM.len() - 1).max(self.start);
        match find(&self.buf[from..], EOM) {
            Some(at) => {
                let end = from + at;
                let message = self.buf[self.start..end].to_vec();
                self.start = end + EOM.len();
                self.scan_from = self.start;
                Ok(Some(message))
            }
            None if self.buf.len() - self.start > MAX_MESSAGE => Err(FramingError::TooLarge),
            None => {
                self.scan_from = self.buf.len();
                Ok(None)
            }
        }
    }

    fn next_chunked(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let mut pos = self.start;
        let outcome = loop {
            if self.chunk_left > 0 {
                let take = self.chunk_left.min(self.buf.len() - pos);
                if take == 0 {
                    break Ok(None);
                }
                self.message.extend_from_slice(&self.buf[pos..pos + take]);
                pos += take;
                self.chunk_left -= take;
                continue;
            }
            match parse_chunk_header(&self.buf[pos..]) {
                Ok(Header::Incomplete { skip }) => {
                    // Whitespace before a header carries nothing: dropping it keeps a peer
                    // that sends only newlines from growing the buffer forever.
                    pos += skip;
                    break Ok(None);
                }
                Ok(Header::Chunk { size, len }) => {
                    if self.message.len() + size > MAX_MESSAGE {
                        break Err(FramingError::TooLarge);
                    }
                    pos += len;
                    self.chunk_left = size;
                }
                Ok(Header::End { len }) => {
                    pos += len;
                    break Ok(Some(std::mem::take(&mut self.message)));
                }
                Err(e) => break Err(e),
            }
        };
        self.start = pos;
        self.scan_from = pos;
        outcome
    }
}

enum Header {
    /// More bytes needed; the first `skip` bytes are whitespace that can be dropped.
    Incomplete {
        skip: usize,
    },
    Chunk {
        size: usize,
        len: usize,
    },
    End {
        len: usize,
    },
}

/// Parses `\n#<digits>\n` or `\n##\n` at the start of `bytes`. Whitespace before the `#`
/// is tolerated (some agents send a bare `#` after a message), anything else is an error.
fn parse_chunk_header(bytes: &[u8]) -> Result<Header, FramingError> {
    let bad = |what: &str| {
        let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
        Err(FramingError::BadChunkHeader(format!("{what} at {shown:?}")))
    };
    let mut i = 0;
    while i < bytes.len() && matches!(bytes[i], b'\n' | b'\r' | b' ' | b'\t') {
        i += 1;
    }
    let skip = i;
    if i == bytes.len() {
        return Ok(Header::Incomplete { skip });
    }
    if bytes[i] != b'#' {
        return bad("expected '#'");
    }
    i += 1;
    let Some(&next) = bytes.get(i) else {
        return Ok(Header::Incomplete { skip });
    };
    if next == b'#' {
        return match bytes.get(i + 1) {
            None => Ok(Header::Incomplete { skip }),
            Some(b'\n') => Ok(Header::End { len: i + 2 }),
            Some(_) => bad("expected newline after '##'"),
        };
    }
    let digits_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        if i - digits_start > MAX_CHUNK_DIGITS {
            return bad("chunk size too long");
        }
    }
    if i == bytes.len() {
        return Ok(Header::Incomplete { skip });
    }
    if i == digits_start || bytes[i] != b'\n' {
        return bad("expected chunk size");
    }
    let digits = std::str::from_utf8(&bytes[digits_start..i]).unwrap_or("0");
    let size: u64 = digits.parse().unwrap_or(0);
    if size == 0 || bytes[digits_start] == b'0' || size > u64::from(u32::MAX) {
        return bad("chunk size out of range");
    }
    let size = usize::try_from(size).map_err(|_| FramingError::TooLarge)?;
    Ok(Header::Chunk { size, len: i + 1 })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn decode_all(
        framing: Framing,
        wire: &[u8],
        pieces: &[usize],
    ) -> Result<Vec<Vec<u8>>, FramingError> {
        let mut decoder = Decoder::new(framing);
        let mut out = Vec::new();
        let mut rest = wire;
        for &n in pieces.iter().chain(std::iter::repeat(&usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(n.min(rest.len()));
            decoder.feed(head);
            rest = tail;
            while let Some(m) = decoder.next_message()? {
                out.push(m);
            }
        }
        Ok(out)
    }

    #[test]
    fn eom_round_trip_and_split_marker() {
        let wire = [
            encode(Framing::EndOfMessage, b"<a/>"),
            encode(Framing::EndOfMessage, b"<b>]]></b>"),
        ]
        .concat();
        for split in 1..wire.len() {
            let got = decode_all(Framing::EndOfMessage, &wire, &[split, 1, 2, 3]).unwrap();
            assert_eq!(
                got,
                vec![b"<a/>".to_vec(), b"<b>]]></b>".to_vec()],
                "split {split}"
            );
        }
    }

    #[test]
    fn chunked_round_trip_byte_by_byte() {
        let msg = b"<rpc-reply><ok/></rpc-reply>";
        let wire = [
            encode(Framing::Chunked, msg),
            encode(Framing::Chunked, b"x"),
        ]
        .concat();
        let ones = vec![1; wire.len()];
        assert_eq!(
            decode_all(Framing::Chunked, &wire, &ones).unwrap(),
            vec![msg.to_vec(), b"x".to_vec()]
        );
    }

    #[test]
    fn chunked_multi_chunk_like_yuma() {
        // yuma splits large replies in ~1986-byte chunks.
        let body: Vec<u8> = (0..10_000).map(|i| b'a' + (i % 26) as u8).collect();
        let mut wire = Vec::new();
        for chunk in body.chunks(1986) {
            wire.extend_from_slice(format!("\n#{}\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
        }
        wire.extend_from_slice(b"\n##\n");
        for pieces in [vec![7], vec![1986], vec![4096], vec![1, 2, 3, 5, 8, 13]] {
            assert_eq!(
                decode_all(Framing::Chunked, &wire, &pieces).unwrap(),
                vec![body.clone()]
            );
        }
    }

    #[test]
    fn switch_framing_keeps_buffered_bytes() {
        let mut d = Decoder::new(Framing::EndOfMessage);
        d.feed(b"<hello/>]]>]]>\n#3\nabc");
        assert_eq!(d.next_message().unwrap(), Some(b"<hello/>".to_vec()));
        d.set_framing(Framing::Chunked);
        assert_eq!(d.next_message().unwrap(), None);
        d.feed(b"\n##\n");
        assert_eq!(d.next_message().unwrap(), Some(b"abc".to_vec()));
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for bad in [
            &b"\n#0\nx\n##\n"[..],
            b"\n#abc\n",
            b"\n#12a\n",
            b"\n#012\nabc",
            b"\n#99999999999\n",
            b"\n#5000000000\n",
            b"<rpc-reply/>",
            b"\n##x",
            b"\n#\n",
        ] {
            let mut d = Decoder::new(Framing::Chunked);
            d.feed(bad);
            assert!(
                d.next_message().is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
            assert!(d.next_message().is_err(), "decoder recovered from {bad:?}");
        }
    }

    #[test]
    fn incomplete_is_not_an_error() {
        for partial in [&b"\n"[..], b"\n#", b"\n#12", b"\n#3\nab", b"\n##"] {
            let mut d = Decoder::new(Framing::Chunked);
            d.feed(partial);
            assert_eq!(d.next_message(), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn whitespace_only_peer_does_not_grow_the_buffer() {
        // Found while writing the fuzz target: whitespace before a chunk header was kept
        // and rescanned on every read, so a peer sending only newlines grew it forever.
        let mut d = Decoder::new(Framing::Chunked);
        for _ in 0..256 {
            d.feed(&[b'\n'; 4096]);
            assert_eq!(d.next_message(), Ok(None));
            assert_eq!(d.pending(), 0);
        }
        d.feed(b" \t\r\n#3\nabc\n##\n");
        assert_eq!(d.next_message(), Ok(Some(b"abc".to_vec())));
    }

    #[test]
    fn many_small_messages_in_one_read_are_linear() {
        // Each returned message used to shift the rest of the buffer: 4 MiB of tiny
        // messages in one feed took minutes.
        for framing in [Framing::EndOfMessage, Framing::Chunked] {
            let one = encode(framing, b"<ok/>");
            let count = (4 << 20) / one.len();
            let mut d = Decoder::new(framing);
            d.feed(&one.repeat(count));
            let started = std::time::Instant::now();
            let mut got = 0;
            while let Some(m) = d.next_message().unwrap() {
                assert_eq!(m, b"<ok/>");
                got += 1;
            }
            assert_eq!(got, count);
            assert_eq!(d.pending(), 0);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{framing:?}: {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6242);
        let alphabet = b"#\n0123456789]>abc ";
        for _ in 0..5_000 {
            let len = rng.gen_range(0..64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            for framing in [Framing::Chunked, Framing::EndOfMessage] {
                let mut d = Decoder::new(framing);
                for piece in bytes.chunks(rng.gen_range(1..8)) {
                    d.feed(piece);
                    while let Ok(Some(_)) = d.next_message() {}
                }
            }
        }
    }

    #[test]
    fn random_messages_survive_random_splits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..300 {
            let messages: Vec<Vec<u8>> = (0..rng.gen_range(1..4))
                .map(|_| {
                    (0..rng.gen_range(1..3000))
                        .map(|_| rng.gen_range(b' '..b'~'))
                        .collect()
                })
                .collect();
            let mut wire = Vec::new();
            for m in &messages {
                // Several chunks per message, as a server may send.
                let mut rest = &m[..];
                while !rest.is_empty() {
                    let n = rng.gen_range(1..=rest.len());
                    wire.extend_from_slice(format!("\n#{n}\n").as_bytes());
                    wire.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                }
                wire.extend_from_slice(b"\n##\n");
            }
            let pieces: Vec<usize> = (0..wire.len()).map(|_| rng.gen_range(1..500)).collect();
            assert_eq!(
                decode_all(Framing::Chunked, &wire, &pieces).unwrap(),
                messages
            );
        }
    }
}
