#!/usr/bin/env python3
"""Sizes of the thumbv7em footprint program, read from its ELF (no binutils needed).

Prints `footprint.<name> <bytes>` lines:
- section sizes (.text, .rodata, .data, .bss), as `arm-none-eabi-size -A` would;
- static_ram: .data + .bss (every static, the message and driver buffers included);
- conn_less_message_buffers_bytes: the sizes of the `ARKWIRE_CONN_*` statics, the
  memory one connection takes besides its message buffers (the client struct, the
  header scratch, the HPACK table, the received-header buffers);
- message_buffers_bytes: the `ARKWIRE_MSG_*` statics (bodies and send queues);
- net_buffers_bytes: the `ARKWIRE_NET_*` statics (the driver's transmit and receive buffers).

Usage: size.py path/to/arkwire-footprint
"""
import struct
import sys


def main(path):
    data = open(path, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 1, "expected a 32-bit ELF"
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    # name, type, flags, addr, offset, size, link, info, addralign, entsize
    sections = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]

    def cstr(table_off, off):
        end = data.index(b"\0", table_off + off)
        return data[table_off + off:end].decode()

    shstr = sections[shstrndx][4]
    sizes = {}
    for s in sections:
        name = cstr(shstr, s[0])
        for want in (".text", ".rodata", ".data", ".bss"):
            if name == want or name.startswith(want + "."):
                sizes[want] = sizes.get(want, 0) + s[5]
    for k in (".text", ".rodata", ".data", ".bss"):
        print(f"footprint.section{k} {sizes.get(k, 0)}")
    print(f"footprint.static_ram {sizes.get('.data', 0) + sizes.get('.bss', 0)}")

    groups = {"ARKWIRE_CONN_": 0, "ARKWIRE_MSG_": 0, "ARKWIRE_NET_": 0}
    for s in sections:
        if s[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[s[6]][4]
        for i in range(s[5] // 16):
            st_name, _value, st_size, _info, _other, _shndx = struct.unpack_from(
                "<IIIBBH", data, s[4] + i * 16)
            name = cstr(strtab, st_name)
            for prefix in groups:
                if name.startswith(prefix):
                    groups[prefix] += st_size
    assert groups["ARKWIRE_CONN_"] > 0, "no ARKWIRE_CONN_ symbols: is the ELF stripped?"
    print(f"footprint.conn_less_message_buffers_bytes {groups['ARKWIRE_CONN_']}")
    print(f"footprint.message_buffers_bytes {groups['ARKWIRE_MSG_']}")
    print(f"footprint.net_buffers_bytes {groups['ARKWIRE_NET_']}")


if __name__ == "__main__":
    main(sys.argv[1])
