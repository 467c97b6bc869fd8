"""posturepod devices: pods on serial ports (USB VID/PID of the supported boards), with
role, firmware and IMU from their info message."""
import json


def register(sub):
    p = sub.add_parser("devices", help="list pods on serial ports")
    p.add_argument("--port", action="append", default=[],
                   help="also probe this port (a virtual board's link, a UART adapter...)")
    p.add_argument("--all", action="store_true", help="probe every serial port, any VID/PID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run)


def known_usb_ids() -> dict:
    """(vid, pid) -> board profile names, from hardware/boards/*.json."""
    from pathlib import Path
    ids: dict = {}
    boards = Path(__file__).resolve().parents[1] / "boards"
    for f in sorted(boards.glob("*.json")):
        d = json.loads(f.read_text())
        for u in d.get("usb") or []:
            try:
                key = (int(str(u["vid"]), 16), int(str(u["pid"]), 16))
            except (KeyError, ValueError):
                continue
            ids.setdefault(key, []).append(d.get("name", f.stem))
    return ids


def probe(port: str, timeout_s: float = 1.5) -> dict:
    from ..podlink import PodError, PodLink
    link = PodLink(port, auto_reconnect=False)
    try:
        info = link.open(timeout_s)
        return {"port": port, "pod": True, **{k: info.get(k) for k in
                ("role", "pod_id", "fw", "proto", "imu", "imu_error", "board", "rate_hz",
                 "odr_hz", "config_errors")}}
    except PodError as e:
        return {"port": port, "pod": False, "error": str(e)}
    finally:
        link.close()


def _run(a):
    from serial.tools import list_ports
    ids = known_usb_ids()
    ports = []
    for p in list_ports.comports():
        boards = ids.get((p.vid, p.pid)) if p.vid is not None else None
        if boards or a.all:
            ports.append((p.device, ", ".join(boards or []), p.description))
    ports += [(p, "", "given") for p in a.port]
    rows = []
    for dev, boards, desc in ports:
        r = probe(dev)
        r["usb_match"] = boards
        r["description"] = desc
        rows.append(r)
    if a.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no pods found (no serial port with a supported board's USB ID; "
              "try --all or --port PATH)")
        return 0
    for r in rows:
        if r["pod"]:
            print(f"{r['port']:24s} {r['role'] or '?':7s} id {r['pod_id']}  fw {r['fw']} "
                  f"(protocol {r['proto']})  IMU {r['imu'] or 'none: ' + str(r['imu_error'])}"
                  f"  board {r['board']}  {r['rate_hz']} Hz")
        else:
            print(f"{r['port']:24s} not a posturepod pod ({r['description']}): {r['error']}")
    return 0
