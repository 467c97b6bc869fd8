# Emulated I2C bus with the machine.I2C methods the pod drivers use. Devices attach at a
# 7-bit address and implement read_into(reg, buf) and write(reg, buf) with the chip's own
# register auto-increment and FIFO semantics. A missing address raises OSError(19)
# (ENODEV), as machine.I2C does on a real board when nothing acknowledges.
_ENODEV = 19


class I2C:
    def __init__(self):
        self._devs = {}
        self.transactions = 0

    def attach(self, addr, dev):
        self._devs[addr] = dev

    def detach(self, addr):
        self._devs.pop(addr, None)

    def scan(self):
        return sorted(self._devs)

    def _dev(self, addr):
        d = self._devs.get(addr)
        if d is None:
            raise OSError(_ENODEV)
        return d

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self.transactions += 1
        self._dev(addr).read_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self.transactions += 1
        self._dev(addr).write(memaddr, buf)
