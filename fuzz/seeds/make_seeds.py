#!/usr/bin/env python3
"""Rebuilds fuzz/seeds/<target>/ from the reference data in the repository (run from its root):
the real Junos replies in tests/fixtures/junos and the device-events webhook example of the
Mist OpenAPI spec (paths["/webhook_example/_device_events_"]), copied to
tests/fixtures/mist/device-events-example.json."""
import glob, json, os, sys

FIXTURES = "tests/fixtures"
OUT = "fuzz/seeds"
EOM = b"]]>]]>"


def write(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)


def chunked(msg, size):
    out = b""
    for i in range(0, len(msg), size):
        part = msg[i:i + size]
        out += b"\n#%d\n" % len(part) + part
    return out + b"\n##\n"


# --- webhook: the spec example, then variants with the values mesa acts on.
example = json.load(open(f"{FIXTURES}/mist/device-events-example.json"))
write("webhook", "spec-example.json", json.dumps(example).encode())
base = example["events"][0]
events = []
for kind, mac in [("AP_CONNECTED", "5c5b35000010"), ("AP_DISCONNECTED", "5C:5B:35:00:00:11"),
                  ("AP_RESTARTED", "5c5b.3500.0012"), ("SW_CONFIGURED", "5c5b35000013")]:
    ev = dict(base, type=kind, mac=mac, ap=mac, timestamp=1461220784)
    events.append(ev)
write("webhook", "device-events-4.json",
      json.dumps({"topic": "device-events", "events": events}).encode())
write("webhook", "deprecated-ap-only.json", json.dumps({"topic": "device-events", "events": [
    {"ap": "5c-5b-35-00-00-10", "type": "AP_CONNECTED", "site_id": base["site_id"],
     "timestamp": 1.5}]}).encode())
write("webhook", "other-topic.json", json.dumps({"topic": "alarms", "events": [{}]}).encode())
write("webhook", "no-mac.json", json.dumps({"topic": "device_events", "events": [
    {"type": "AP_CONNECTED", "site_id": "s", "timestamp": 1}]}).encode())

# --- netconf_reply: every real reply, a hello, and small hand-made replies.
replies = {os.path.basename(p)[:-4]: open(p, "rb").read()
           for p in sorted(glob.glob(f"{FIXTURES}/junos/*.xml"))}
hello = (b'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
         b'<capabilities><capability>urn:ietf:params:netconf:base:1.0</capability>'
         b'<capability>urn:ietf:params:netconf:base:1.1</capability></capabilities>'
         b'<session-id>7</session-id></hello>')
ok = b'<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="101"><ok/></rpc-reply>'
for name, xml in replies.items():
    write("netconf_reply", name + ".xml", xml)
write("netconf_reply", "hello.xml", hello)
write("netconf_reply", "ok.xml", ok)

# --- netconf_framing: [flags][n][n controls][wire], see fuzz_targets/netconf_framing.rs.
small = [replies[k] for k in sorted(replies) if len(replies[k]) < 2000]
for i, xml in enumerate(small):
    write("netconf_framing", f"eom-{i}", bytes([0, 0]) + xml + EOM)
    write("netconf_framing", f"chunked-{i}", bytes([1, 3, 7, 0x80 | 50, 127]) + chunked(xml, 400))
write("netconf_framing", "hello-then-chunked",
      bytes([0, 2, 20, 127]) + hello + EOM + b"\n" + chunked(ok, 30) + chunked(small[0], 200))
write("netconf_framing", "round-trip-eom", bytes([2, 2, 3, 90]) + b"\xff".join([hello, ok, small[1]]))
write("netconf_framing", "round-trip-hello-chunked",
      bytes([3, 3, 1, 60, 127]) + b"\xff".join([hello, ok, small[2]]))

# --- sim_junos: [flags][n][piece sizes][wire] with what mesa sends to the simulator.
rpc = (b'<?xml version="1.0" encoding="UTF-8"?><rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
       b'message-id="1"><lock><target><candidate/></target></lock></rpc>')
load = (b'<rpc message-id="2"><load-configuration action="set" format="text"><configuration-set>'
        b'set interfaces ge-0/0/1 description &quot;AP &lt;x&gt;&quot;\n</configuration-set>'
        b'</load-configuration></rpc>')
client_hello = hello.replace(b"<session-id>7</session-id>", b"")
write("sim_junos", "hello-then-chunked",
      bytes([1, 2, 9, 200]) + client_hello + EOM + chunked(rpc, 50) + chunked(load, 1000))
write("sim_junos", "eom-only", bytes([0, 0]) + client_hello + EOM + rpc + EOM + load + EOM)
print("seeds written to", OUT, file=sys.stderr)
