//! RFC 6242 decoder of the NETCONF client: bytes from the switch, split into feeds anywhere.
//!
//! Input layout: `[flags][n][n control bytes][wire...]`.
//! - flags bit 0: start in chunked framing (else end-of-message);
//! - flags bit 1: round-trip mode: `wire` is a list of messages separated by 0xFF, encoded
//!   with `encode` (several chunks each) and decoded again: the messages must come back;
//! - control byte `c`: a feed of `(c & 0x7f) + 1` bytes, cycled; bit 7 set means "switch
//!   framing before this feed" (raw mode only).
//!
//! Raw mode checks that the messages (and whether an error happens) do not depend on how
//! the wire is split, that buffered bytes never exceed what was fed, that an error sticks,
//! and that switching framing at any point never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesa::backend::netconf::framing::{encode, Decoder, Framing, EOM};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let flags = data[0];
    let n = (data[1] as usize % 33).min(data.len() - 2);
    let controls = &data[2..2 + n];
    let wire = &data[2 + n..];
    let start = if flags & 1 == 1 {
        Framing::Chunked
    } else {
        Framing::EndOfMessage
    };
    if flags & 2 == 2 {
        round_trip(flags & 1 == 1, controls, wire);
    } else {
        raw(start, controls, wire);
    }
});

fn other(f: Framing) -> Framing {
    match f {
        Framing::Chunked => Framing::EndOfMessage,
        Framing::EndOfMessage => Framing::Chunked,
    }
}

/// Feed sizes and switch flags, cycling over the control bytes; one feed if there are none.
fn pieces<'a>(controls: &'a [u8], wire: &'a [u8]) -> Vec<(&'a [u8], bool)> {
    if controls.is_empty() {
        return vec![(wire, false)];
    }
    let mut out = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let c = controls[i % controls.len()];
        let len = ((c & 0x7f) as usize + 1).min(rest.len());
        out.push((&rest[..len], c & 0x80 != 0));
        rest = &rest[len..];
        i += 1;
    }
    out
}

struct Run {
    messages: Vec<Vec<u8>>,
    failed: bool,
}

fn decode(start: Framing, pieces: &[(&[u8], bool)], switch: bool) -> Run {
    let mut d = Decoder::new(start);
    let mut run = Run {
        messages: Vec::new(),
        failed: false,
    };
    let mut fed = 0usize;
    for &(piece, flip) in pieces {
        if switch && flip {
            d.set_framing(other(d.framing()));
        }
        d.feed(piece);
        fed += piece.len();
        loop {
            match d.next_message() {
                Ok(Some(m)) => run.messages.push(m),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(d.next_message(), Err(e), "decoder recovered after an error");
                    run.failed = true;
                    break;
                }
            }
        }
        let returned: usize = run.messages.iter().map(Vec::len).sum();
        assert!(
            d.pending() + returned <= fed,
            "pending {} + returned {returned} > fed {fed}",
            d.pending()
        );
        if run.failed {
            break;
        }
    }
    run
}

fn raw(start: Framing, controls: &[u8], wire: &[u8]) {
    let whole = decode(start, &[(wire, false)], false);
    let split = decode(start, &pieces(controls, wire), false);
    assert_eq!(
        whole.messages, split.messages,
        "messages depend on the split"
    );
    assert_eq!(whole.failed, split.failed, "error depends on the split");
    decode(start, &pieces(controls, wire), true);
}

fn round_trip(hello_then_chunked: bool, controls: &[u8], wire: &[u8]) {
    let messages: Vec<&[u8]> = wire
        .split(|&b| b == 0xFF)
        // A base:1.0 message whose end forms a marker with the EOM is not representable.
        .filter(|m| {
            let framed = [*m, EOM].concat();
            framed.windows(EOM.len()).position(|w| w == EOM) == Some(m.len())
        })
        .collect();
    let mut bytes = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let framing = if hello_then_chunked && i > 0 {
            Framing::Chunked
        } else {
            Framing::EndOfMessage
        };
        match framing {
            Framing::EndOfMessage => bytes.extend_from_slice(&encode(framing, m)),
            Framing::Chunked => {
                // Several chunks per message, sized by the control bytes.
                let mut rest = *m;
                let mut k = 0;
                while !rest.is_empty() {
                    let size = controls
                        .get(k % controls.len().max(1))
                        .map_or(rest.len(), |&c| (c as usize % 61) + 1)
                        .min(rest.len());
                    bytes.extend_from_slice(format!("\n#{size}\n").as_bytes());
                    bytes.extend_from_slice(&rest[..size]);
                    rest = &rest[size..];
                    k += 1;
                }
                bytes.extend_from_slice(b"\n##\n");
            }
        }
    }
    let mut d = Decoder::new(Framing::EndOfMessage);
    let mut got: Vec<Vec<u8>> = Vec::new();
    for (piece, _) in pieces(controls, &bytes) {
        d.feed(piece);
        while let Some(m) = d.next_message().expect("well-framed input refused") {
            got.push(m);
            if hello_then_chunked && got.len() == 1 {
                d.set_framing(Framing::Chunked);
            }
        }
    }
    let want: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
    assert_eq!(got, want);
    assert_eq!(d.pending(), 0);
}
