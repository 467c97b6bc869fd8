# Register-level models of the IMU chips, fed by a motion source (vboard.motion) on the
# true clock (vboard.clock). Each model: ADDRESSES, __init__(source, clock, variant=...),
# read_into(reg, buf), write(reg, buf). make(name, ...) builds one by model name.


def make(name, source, clock):
    n = name.upper()
    if n in ("MPU-6050", "MPU-6500", "MPU-9250"):
        from vboard.chips.mpu6050 import Mpu6050
        return Mpu6050(source, clock, variant=n)
    if n == "ICM-20948":
        from vboard.chips.icm20948 import Icm20948
        return Icm20948(source, clock)
    if n in ("LSM6DSOX", "LSM6DS3TR-C"):
        from vboard.chips.lsm6ds import Lsm6ds
        return Lsm6ds(source, clock, variant=n)
    raise ValueError("no model of IMU " + name)
