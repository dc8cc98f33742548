//! One NETCONF session (blocking): hello exchange, framing choice, message-id matching, and
//! the standard and Junos operations as methods.
//!
//! This is the public low-level client: the backend drives it through [`super::junos`], and
//! tests (yuma123, a Junos simulator) can drive it directly.

use std::time::Duration;

use super::error::NetconfError;
use super::framing::Framing;
use super::rpc::{self, ops, Datastore, Element, RpcReply, ServerHello, CAP_BASE_11};
use super::transport::{ConnectOptions, Transport};

/// Pause between our `<hello>` and the first `<rpc>` (see [`Session::connect`]).
const HELLO_SETTLE: Duration = Duration::from_millis(50);

pub use super::commit_info::PendingCommit;

pub struct Session {
    transport: Transport,
    hello: ServerHello,
    next_id: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.transport.peer())
            .field("session_id", &self.hello.session_id)
            .field("framing", &self.transport.framing())
            .finish()
    }
}

impl Session {
    /// Connects, authenticates and exchanges hellos. Chunked framing is used when both sides
    /// offer base:1.1.
    pub fn connect(opts: &ConnectOptions) -> Result<Session, NetconfError> {
        let mut transport = Transport::open(opts)?;
        // The hello is part of connecting: a server that never sends it is unreachable in
        // connect_timeout, not in rpc_timeout.
        transport.set_rpc_timeout(opts.connect_timeout);
        let server = transport.receive()?;
        transport.set_rpc_timeout(opts.rpc_timeout);
        let hello = ServerHello::parse(&server)?;
        if !hello.has(rpc::CAP_BASE_10) && !hello.has(CAP_BASE_11) {
            return Err(NetconfError::Protocol(format!(
                "{}: server offers no NETCONF base capability",
                transport.peer()
            )));
        }
        // Sent by itself: yuma123 loses the reply to an rpc that shares a write with the hello.
        transport.send(&rpc::client_hello(opts.offer_base11))?;
        // ...and given time to be read alone: pipes on the server side (sshd → subsystem →
        // agent) otherwise merge it with the first rpc.
        std::thread::sleep(HELLO_SETTLE);
        if opts.offer_base11 && hello.has(CAP_BASE_11) {
            transport.set_framing(Framing::Chunked);
        } else if !hello.has(rpc::CAP_BASE_10) {
            return Err(NetconfError::Protocol(format!(
                "{}: server speaks only base:1.1, we offered base:1.0",
                transport.peer()
            )));
        }
        Ok(Session {
            transport,
            hello,
            next_id: 1,
        })
    }

    pub fn session_id(&self) -> Option<u32> {
        self.hello.session_id
    }

    pub fn server_capabilities(&self) -> &[String] {
        &self.hello.capabilities
    }

    pub fn has_capability(&self, capability: &str) -> bool {
        self.hello.has(capability)
    }

    pub fn framing(&self) -> Framing {
        self.transport.framing()
    }

    pub fn peer(&self) -> &str {
        self.transport.peer()
    }

    /// Changes the reply deadline for the following RPCs (a commit may need longer).
    pub fn set_rpc_timeout(&mut self, timeout: Duration) {
        self.transport.set_rpc_timeout(timeout);
    }

    /// Sends one operation and returns the reply, `<rpc-error>`s included. Replies with
    /// another message-id (left over from an abandoned RPC) are skipped.
    pub fn rpc_raw(&mut self, operation: &str) -> Result<RpcReply, NetconfError> {
        let id = self.next_id.to_string();
        self.next_id += 1;
        self.transport.send(&rpc::rpc(&id, operation))?;
        loop {
            let message = self.transport.receive()?;
            let reply = RpcReply::parse(&message)?;
            match reply.message_id.as_deref() {
                Some(got) if got != id => {
                    tracing::warn!(peer = %self.peer(), expected = %id, got, "skipping reply to another rpc");
                }
                _ => return Ok(reply),
            }
        }
    }

    /// Like [`Session::rpc_raw`], but a reply with errors (not warnings) is an `Err`.
    pub fn rpc(&mut self, operation: &str) -> Result<RpcReply, NetconfError> {
        let reply = self.rpc_raw(operation)?;
        if reply.has_failures() {
            return Err(NetconfError::Rpc(reply.failures()));
        }
        Ok(reply)
    }

    pub fn lock(&mut self, target: Datastore) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::lock(target))
    }

    pub fn unlock(&mut self, target: Datastore) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::unlock(target))
    }

    /// `config` is the `<config>` element, as XML.
    pub fn edit_config(
        &mut self,
        target: Datastore,
        config: &str,
    ) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::edit_config(target, config))
    }

    /// Returns the `<data>` element.
    pub fn get_config(
        &mut self,
        source: Datastore,
        subtree_filter: Option<&str>,
    ) -> Result<Element, NetconfError> {
        let reply = self.rpc(&ops::get_config(source, subtree_filter))?;
        reply
            .root
            .child("data")
            .cloned()
            .ok_or_else(|| NetconfError::Protocol("get-config reply without <data>".into()))
    }

    pub fn validate(&mut self, source: Datastore) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::validate(source))
    }

    pub fn commit(&mut self) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::commit())
    }

    /// RFC 6241 confirmed commit: rolled back unless confirmed within `timeout_secs` SECONDS.
    pub fn commit_confirmed(&mut self, timeout_secs: u32) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::commit_confirmed(timeout_secs))
    }

    pub fn cancel_commit(&mut self) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::cancel_commit())
    }

    pub fn discard_changes(&mut self) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::discard_changes())
    }

    /// Junos `<load-configuration action="set">`; the reply keeps warnings.
    pub fn junos_load_set(&mut self, lines: &[String]) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::junos_load_set(lines))
    }

    /// Junos `show | compare` of the candidate, as text; empty when nothing changed.
    pub fn junos_diff(&mut self) -> Result<String, NetconfError> {
        let reply = self.rpc(&ops::junos_diff())?;
        Ok(text_of(
            &reply.root,
            &["configuration-output", "configuration-text"],
        ))
    }

    /// Junos configuration as curly-brace text (`committed` reads the active one).
    pub fn junos_get_text(&mut self, committed: bool) -> Result<String, NetconfError> {
        let reply = self.rpc(&ops::junos_get_text(committed))?;
        Ok(text_of(
            &reply.root,
            &["configuration-text", "configuration-output"],
        ))
    }

    /// Junos configuration (the candidate) as curly-brace text, only the subtrees that the
    /// `<configuration>` filter names.
    pub fn junos_get_text_filtered(&mut self, filter: &str) -> Result<String, NetconfError> {
        let reply = self.rpc(&ops::junos_get_text_filtered(filter))?;
        Ok(text_of(
            &reply.root,
            &["configuration-text", "configuration-output"],
        ))
    }

    pub fn junos_commit_check(&mut self) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::junos_commit_check())
    }

    /// Junos confirmed commit, rolled back unless confirmed within `minutes` MINUTES.
    pub fn junos_commit_confirmed(
        &mut self,
        minutes: u16,
        log: &str,
    ) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::junos_commit_confirmed(minutes, log))
    }

    /// Junos plain commit; confirms a pending confirmed commit.
    pub fn junos_commit(&mut self) -> Result<RpcReply, NetconfError> {
        self.rpc(&ops::junos_commit())
    }

    /// The confirmed commit that may still be waiting for its confirmation, judged by
    /// [`super::commit_info::pending`] (the history comment alone does not prove it).
    pub fn junos_pending_confirm(&mut self) -> Result<Option<PendingCommit>, NetconfError> {
        let reply = self.rpc(&ops::junos_commit_information())?;
        Ok(super::commit_info::pending(
            &reply.root,
            crate::clock::now().timestamp(),
        ))
    }

    /// Sends `<close-session/>` and closes the SSH session, waiting at most a few seconds.
    pub fn close(mut self) -> Result<(), NetconfError> {
        self.transport.set_rpc_timeout(Duration::from_secs(5));
        let result = self.rpc(&ops::close_session()).map(|_| ());
        self.transport.shutdown();
        result
    }
}

fn text_of(root: &Element, names: &[&str]) -> String {
    names
        .iter()
        .find_map(|name| root.find(name))
        .map(|e| e.text())
        .unwrap_or_default()
}
