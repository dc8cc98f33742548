//! NETCONF XML from the switch: `rpc::parse`, `RpcReply::parse` (errors in both dialects),
//! `ServerHello::parse`, and everything the backend then calls on them. The transport only
//! hands over UTF-8, so non-UTF-8 inputs are skipped.
//!
//! Also an escaping oracle: any string escaped into element text or into the message-id
//! attribute reads back unchanged (so a log text or an id can never inject XML).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesa::backend::netconf::rpc::{self, describe, RpcReply, ServerHello};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(root) = rpc::parse(text) {
        let _ = root.text();
        let mut all = Vec::new();
        root.find_all("rpc-error", &mut all);
        let _ = root.find("ok");
        let _ = root.path(&["configuration", "interfaces"]);
        let _ = root.child_text("message");
    }
    match RpcReply::parse(text) {
        Ok(reply) => {
            let failures = reply.failures();
            let warnings = reply.warnings();
            assert_eq!(failures.len() + warnings.len(), reply.errors.len());
            assert_eq!(reply.has_failures(), !failures.is_empty());
            assert!(failures.iter().all(|e| e.is_error()));
            for e in &reply.errors {
                let _ = e.to_string();
                let _ = e.info("bad-element");
            }
            let _ = describe(&reply.errors);
            assert_eq!(reply.root.name, "rpc-reply");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(hello) = ServerHello::parse(text) {
        let _ = hello.has(rpc::CAP_BASE_11);
    }

    let wrapped = format!("<a>{}</a>", rpc::escape(text));
    let back = rpc::parse(&wrapped).expect("escaped text is not well-formed");
    assert_eq!(back.text(), text, "text escaping does not round-trip");
    let request = rpc::rpc(text, "<commit/>");
    let back = rpc::parse(&request).expect("rpc with escaped id is not well-formed");
    assert_eq!(back.attr("message-id"), Some(text), "message-id escaping");
    assert_eq!(back.elements().count(), 1);
});
