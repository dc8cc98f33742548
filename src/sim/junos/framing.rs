//! NETCONF message framing, server side: `]]>]]>` (base:1.0) and chunked (base:1.1, RFC 6242).
//!
//! The reader keeps every byte it has read but not yet consumed, so a peer may split or
//! coalesce messages arbitrarily, and switching from end-of-message to chunked framing after
//! the hello never loses the bytes that followed the hello.

use std::io::{self, Read, Write};

/// The end-of-message marker of base:1.0.
pub const EOM: &[u8] = b"]]>]]>";

/// Refuse messages larger than this: a peer that never frames its message must not make the
/// simulator eat the machine's memory.
const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// How messages are delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// base:1.0, every message ends with `]]>]]>`.
    EndOfMessage,
    /// base:1.1, `\n#<len>\n<data>` chunks ended by `\n##\n`.
    Chunked,
}

/// Reads whole NETCONF messages from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    eof: bool,
    framing: Framing,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: Vec::new(),
            eof: false,
            framing: Framing::EndOfMessage,
        }
    }

    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Reads more bytes; returns false at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.inner.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > MAX_MESSAGE + 64 {
                        return Err(bad("message too large"));
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next whole message, or `None` when the peer closed the stream between messages.
    pub fn read_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.framing {
            Framing::EndOfMessage => self.read_eom(),
            Framing::Chunked => self.read_chunked(),
        }
    }

    fn read_eom(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = find(&self.buf[scanned..], EOM) {
                let end = scanned + pos;
                let msg = self.buf[..end].to_vec();
                self.buf.drain(..end + EOM.len());
                return Ok(Some(msg));
            }
            scanned = self.buf.len().saturating_sub(EOM.len() - 1);
            if !self.fill()? {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                return Err(bad("stream ended inside a message"));
            }
        }
    }

    fn read_chunked(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut msg = Vec::new();
        let mut first = true;
        loop {
            // Be lenient about whitespace before a chunk header; RFC 6242 wants exactly "\n#".
            loop {
                let ws = self
                    .buf
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
                self.buf.drain(..ws);
                if !self.buf.is_empty() {
                    break;
                }
                if !self.fill()? {
                    if first {
                        return Ok(None);
                    }
                    return Err(bad("stream ended inside a chunked message"));
                }
            }
            if self.buf[0] != b'#' {
                return Err(bad("chunked framing: expected '#'"));
            }
            let nl = loop {
                if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                    break nl;
                }
                if self.buf.len() > 12 {
                    return Err(bad("chunked framing: chunk header too long"));
                }
                if !self.fill()? {
                    return Err(bad("stream ended inside a chunk header"));
                }
            };
            let header = &self.buf[1..nl];
            if header == b"#" {
                self.buf.drain(..=nl);
                return Ok(Some(msg));
            }
            let len = parse_chunk_len(header)?;
            if msg.len() + len > MAX_MESSAGE {
                return Err(bad("message too large"));
            }
            self.buf.drain(..=nl);
            while self.buf.len() < len {
                if !self.fill()? {
                    return Err(bad("stream ended inside a chunk"));
                }
            }
            msg.extend_from_slice(&self.buf[..len]);
            self.buf.drain(..len);
            first = false;
        }
    }
}

fn parse_chunk_len(header: &[u8]) -> io::Result<usize> {
    let valid = !header.is_empty()
        && header.len() <= 10
        && header[0] != b'0'
        && header.iter().all(u8::is_ascii_digit);
    if !valid {
        return Err(bad("chunked framing: bad chunk size"));
    }
    let n: u64 = std::str::from_utf8(header)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("chunked framing: bad chunk size"))?;
    if n > u64::from(u32::MAX) {
        return Err(bad("chunked framing: chunk size out of range"));
    }
    usize::try_from(n).map_err(|_| bad("chunked framing: chunk size out of range"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes one message with the given framing and flushes, as Junos does after every reply.
pub fn write_message<W: Write>(out: &mut W, framing: Framing, body: &[u8]) -> io::Result<()> {
    match framing {
        Framing::EndOfMessage => {
            out.write_all(body)?;
            out.write_all(b"\n]]>]]>\n")?;
        }
        Framing::Chunked => {
            if !body.is_empty() {
                write!(out, "\n#{}\n", body.len())?;
                out.write_all(body)?;
            }
            out.write_all(b"\n##\n")?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, to prove splits anywhere are fine.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn eom_then_chunked_split_byte_by_byte() {
        let wire = b"<hello/>]]>]]>\n#4\n<rpc\n#3\n/>x\n##\n\n#2\nab\n##\n".to_vec();
        let mut r = FrameReader::new(Trickle(wire, 0));
        assert_eq!(r.read_message().unwrap().unwrap(), b"<hello/>");
        r.set_framing(Framing::Chunked);
        assert_eq!(r.read_message().unwrap().unwrap(), b"<rpc/>x");
        assert_eq!(r.read_message().unwrap().unwrap(), b"ab");
        assert!(r.read_message().unwrap().is_none());
    }

    #[test]
    fn bad_chunks_are_errors_not_panics() {
        for wire in [
            &b"\n#0\nx\n##\n"[..],
            b"\n#abc\n",
            b"\n#5\nab",
            b"x",
            b"\n#99999999999\n",
        ] {
            let mut r = FrameReader::new(wire);
            r.set_framing(Framing::Chunked);
            assert!(
                r.read_message().is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let mut r = FrameReader::new(&b"<rpc>"[..]);
        assert!(r.read_message().is_err());
    }

    #[test]
    fn writes_both_framings() {
        let mut out = Vec::new();
        write_message(&mut out, Framing::Chunked, b"<ok/>").unwrap();
        assert_eq!(out, b"\n#5\n<ok/>\n##\n");
        out.clear();
        write_message(&mut out, Framing::EndOfMessage, b"<ok/>").unwrap();
        assert_eq!(out, b"<ok/>\n]]>]]>\n");
    }
}
