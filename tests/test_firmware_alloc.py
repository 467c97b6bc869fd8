"""No heap allocation per sample in the pod firmware: tests/mp/alloc_check.py runs the real
firmware objects (virtual board + chip model, IMU driver, device clock, sampler, App main
loop step) under the MicroPython unix port on a stepped clock, and requires gc.mem_alloc()
unchanged (GC disabled) over 10,000 samples, per IMU model, at 100 and 1000 Hz, with short
and long loop steps and with FIFO-overflowing stalls."""
import subprocess


from conftest import ROOT, mp_env, native_firmware

SCRIPT = ROOT / "tests" / "mp" / "alloc_check.py"
MODELS = ("MPU-6050", "LSM6DSOX", "ICM-20948", "MPU-6500", "LSM6DS3TR-C")
CASES = ("100Hz/step3700us", "100Hz/step23300us", "1000Hz/step730us", "1000Hz/step2300us",
         "1000Hz/stalls")


def _all_cases_ok(micropython, tmp_path, *args, firmware=None):
    r = subprocess.run([micropython, "-X", "heapsize=512k", str(SCRIPT), *args], cwd=tmp_path,
                       env=mp_env(firmware=firmware), capture_output=True, text=True,
                       timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "ALL OK" in r.stdout, out
    ok = {line.split(":")[0][3:] for line in r.stdout.splitlines() if line.startswith("OK ")}
    missing = [f"{m}@{c}" for m in MODELS for c in CASES if f"{m}@{c}" not in ok]
    assert not missing, f"cases not reported OK: {missing}\n{out}"


def test_no_heap_allocation_per_sample(micropython, tmp_path):
    _all_cases_ok(micropython, tmp_path)


def test_no_heap_allocation_per_sample_armed_and_streaming(micropython, tmp_path):
    """The same with the orientation paths on (issue 16): standalone mode armed (tilt
    filter on every sample, one day-log record a second written to the filesystem, the
    rule buzzing every 3 s) while streaming raw samples, and the ANGLES packing at 50 Hz."""
    _all_cases_ok(micropython, tmp_path, "--orient")


def test_no_heap_allocation_per_sample_with_the_native_filter(micropython, tmp_path):
    """The same, armed, with the firmware as built for a board: its native tilt filter
    (pod/tilt_native, native code from pod/tilt.py) in place of the bytecode one."""
    fw = native_firmware(tmp_path)
    r = subprocess.run([micropython, "-c", "from pod import tilt; print(tilt.NATIVE)"],
                       env=mp_env(firmware=fw), capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "True", r.stdout + r.stderr
    _all_cases_ok(micropython, tmp_path, "--orient", firmware=fw)
