"""posturepod devices: pods on serial ports (USB VID/PID of the supported boards), with
role, firmware and IMU from their info message, and BLE pods in range (from their
advertisements: role and short id; ``--ble-probe`` connects for the info message, which
pairs with the pod)."""
import json


def register(sub):
    p = sub.add_parser("devices", help="list pods on serial ports and BLE pods in range")
    p.add_argument("--port", action="append", default=[],
                   help="also probe this port (a virtual board's link, a UART adapter...)")
    p.add_argument("--all", action="store_true", help="probe every serial port, any VID/PID")
    p.add_argument("--no-ble", action="store_true", help="do not scan for BLE pods")
    p.add_argument("--ble-seconds", type=float, default=3.0, help="BLE scan time (s)")
    p.add_argument("--ble-probe", action="store_true",
                   help="connect to each BLE pod for its info message (pairs with it)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run)


def known_usb_ids() -> dict:
    """(vid, pid) -> board profile names, from hardware/boards/*.json."""
    from posturepod.devices.boards import BOARDS_DIR
    ids: dict = {}
    for f in sorted(BOARDS_DIR.glob("*.json")):
        d = json.loads(f.read_text())
        for u in d.get("usb") or []:
            try:
                key = (int(str(u["vid"]), 16), int(str(u["pid"]), 16))
            except (KeyError, ValueError):
                continue
            ids.setdefault(key, []).append(d.get("name", f.stem))
    return ids


def probe(port: str, timeout_s: float = 1.5) -> dict:
    from posturepod.pods.podlink import PodError, PodLink
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


def ble_rows(seconds: float = 3.0, probe_info: bool = False) -> tuple[list, str | None]:
    """BLE pods in range as rows (port "ble:<short id>"), and why there are none if the
    scan could not run (no bleak, no adapter)."""
    try:
        from posturepod.pods.transport import ble as tble
        found = tble.find_pods(seconds)
    except ImportError:
        return [], "BLE scan skipped: bleak is not installed (pip install posturepod[ble])"
    except Exception as e:  # noqa: BLE001 - no adapter, BlueZ not running...
        return [], (f"BLE scan failed (no Bluetooth adapter, or BlueZ not running?): "
                    f"{type(e).__name__}: {e}")
    rows = []
    for f in sorted(found, key=lambda f: (f.role or "", f.name or "")):
        spec = "ble:" + (f.short_id or f.address)
        r = {"port": spec, "pod": True, "transport": "ble", "address": f.address,
             "name": f.name, "role": f.role, "short_id": f.short_id, "rssi": f.rssi,
             "usb_match": "", "description": "BLE advertisement"}
        if probe_info:
            r.update(probe(spec, timeout_s=15.0))
            r["transport"] = "ble"
        rows.append(r)
    return rows, None


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
        r["transport"] = "serial"
        rows.append(r)
    ble_note = None
    if not a.no_ble:
        brows, ble_note = ble_rows(a.ble_seconds, a.ble_probe)
        rows += brows
    if a.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no pods found (no serial port with a supported board's USB ID; "
              "try --all or --port PATH)" + (f"; {ble_note}" if ble_note else ""))
        return 0
    for r in rows:
        if r.get("transport") == "ble" and "fw" not in r:
            print(f"{r['port']:24s} {r['role'] or '?':7s} BLE {r['name']}  address "
                  f"{r['address']}  RSSI {r['rssi']} dBm")
        elif r["pod"]:
            print(f"{r['port']:24s} {r['role'] or '?':7s} id {r['pod_id']}  fw {r['fw']} "
                  f"(protocol {r['proto']})  IMU {r['imu'] or 'none: ' + str(r['imu_error'])}"
                  f"  board {r['board']}  {r['rate_hz']} Hz")
        else:
            print(f"{r['port']:24s} not a posturepod pod ({r['description']}): {r['error']}")
    if ble_note:
        print(ble_note)
    return 0
