//! The Junos simulator's server side: `FrameReader` over a peer that sends the input in
//! arbitrary pieces (switching to chunked after the first message, as after a hello), and
//! `xml::parse` of every message. The simulator runs in tests and demos only, so this
//! target just proves "no panic, no hang" and that what `write_message` frames reads back.
//!
//! Input layout: `[flags][n][n piece sizes][wire...]`; flags bit 0: switch to chunked after
//! the first message.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use mesa::sim::junos::framing::{write_message, FrameReader, Framing};
use mesa::sim::junos::xml;

struct Pieces<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    i: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self
            .sizes
            .get(self.i % self.sizes.len().max(1))
            .map_or(usize::MAX, |&s| s as usize + 1);
        self.i += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let switch = data[0] & 1 == 1;
    let n = (data[1] as usize % 17).min(data.len() - 2);
    let sizes = &data[2..2 + n];
    let wire = &data[2 + n..];

    let mut reader = FrameReader::new(Pieces {
        data: wire,
        sizes,
        i: 0,
    });
    let mut count = 0;
    loop {
        // Every message takes at least one byte of the wire: more means the reader loops.
        assert!(
            count <= wire.len(),
            "{count} messages from {} bytes",
            wire.len()
        );
        match reader.read_message() {
            Ok(Some(message)) => {
                count += 1;
                if let Ok(text) = std::str::from_utf8(&message) {
                    if let Ok(root) = xml::parse(text) {
                        let _ = root.attr("message-id");
                        let _ = root.child("lock").map(|l| l.trimmed_text());
                    }
                }
                if switch && count == 1 {
                    reader.set_framing(Framing::Chunked);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }

    // What the simulator writes, its own reader reads back.
    for framing in [Framing::EndOfMessage, Framing::Chunked] {
        if framing == Framing::EndOfMessage && wire.windows(3).any(|w| w == b"]]>") {
            continue;
        }
        let mut out = Vec::new();
        write_message(&mut out, framing, wire).expect("write to a Vec");
        let mut reader = FrameReader::new(Pieces {
            data: &out,
            sizes,
            i: 0,
        });
        reader.set_framing(framing);
        let got = reader.read_message().expect("own framing refused");
        let want: Vec<u8> = match framing {
            // The base:1.0 writer adds a newline before the marker.
            Framing::EndOfMessage => [wire, b"\n"].concat(),
            Framing::Chunked => wire.to_vec(),
        };
        assert_eq!(got.as_deref(), Some(&want[..]));
    }
});
