"""NorFlash against a byte-at-a-time reference model under random operation sequences."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubfw.flash.device import (
    CutMode,
    FlashError,
    NorFlash,
    PowerCut,
    PoweredOff,
    ProgramFailed,
    WearOutMode,
)


class ReferenceNor:
    """NOR flash written for obviousness rather than speed: one byte at a time, no cleverness.

    Torn (DURING) operations are random, so for those the model only checks that every byte is
    something a cut could leave, then adopts what the device produced.
    """

    def __init__(self, profile, strict: bool) -> None:
        self.profile = profile
        self.strict = strict
        self.memory = [0xFF] * profile.size
        self.erase_counts = [0] * profile.sector_count
        self.operations = 0
        self.double_writes = 0
        self.power_cuts = 0
        self.powered = True
        self.cuts: dict[int, CutMode] = {}

    def program(self, address: int, data: bytes, device: NorFlash) -> type[Exception] | None:
        p = self.profile
        if not self.powered:
            return PoweredOff
        end = address + len(data)
        if not data or address < 0 or end > p.size or address // p.page_size != (end - 1) // p.page_size:
            return FlashError
        sets_bits = any(new & ~old & 0xFF for old, new in zip(self.memory[address:end], data, strict=True))
        if sets_bits and self.strict:
            self.double_writes += 1
            return FlashError
        cut = self.cuts.pop(self.operations, None)
        if cut is CutMode.BEFORE:
            return self._cut()
        self.double_writes += sets_bits
        worn = self.erase_counts[address // p.sector_size] > p.endurance
        result = [old if worn else old & new for old, new in zip(self.memory[address:end], data, strict=True)]
        if cut is CutMode.DURING:
            landed = device.snapshot().contents[address:end]
            assert all(r & ~old & 0xFF == 0 and want & ~r & 0xFF == 0 for r, old, want in
                       zip(landed, self.memory[address:end], result, strict=True))
            result = list(landed)
        self.memory[address:end] = result
        self.operations += 1
        if cut is not None:
            return self._cut()
        return ProgramFailed if worn else None

    def erase(self, sectors: range, device: NorFlash) -> type[Exception] | None:
        if not self.powered:
            return PoweredOff
        cut = self.cuts.pop(self.operations, None)
        if cut is CutMode.BEFORE:
            return self._cut()
        size = self.profile.sector_size
        for sector in sectors:
            self.erase_counts[sector] += 1
        start, end = sectors.start * size, sectors.stop * size
        if cut is CutMode.DURING:
            landed = device.snapshot().contents[start:end]
            assert all(r in (old, 0xFF) for r, old in zip(landed, self.memory[start:end], strict=True))
            self.memory[start:end] = list(landed)
        else:
            self.memory[start:end] = [0xFF] * (end - start)
        self.operations += 1
        return self._cut() if cut is not None else None

    def _cut(self) -> type[Exception]:
        self.powered = False
        self.power_cuts += 1
        return PowerCut


# Mostly the first sectors, so programs overlap, sectors wear out and blocks cover them; sometimes anywhere.
addresses = st.one_of(st.integers(0, 300), st.integers(0, 300), st.integers(-2, 4100))
sectors = st.one_of(st.just(0), st.integers(0, 2), st.integers(-1, 16))
programs = st.one_of(
    st.tuples(st.just("program"), addresses, st.binary(min_size=1, max_size=6)),
    st.tuples(st.just("program"), addresses, st.binary(min_size=0, max_size=40)),
    st.tuples(st.just("program_low"), addresses, st.integers(1, 6)),
)
operations = st.lists(
    st.one_of(
        programs,
        programs,
        st.tuples(st.just("erase"), sectors),
        st.tuples(st.just("erase"), sectors),
        st.tuples(st.just("block"), st.integers(-1, 4)),
        st.tuples(st.just("read"), addresses, st.integers(0, 64)),
        st.tuples(st.just("cut"), st.sampled_from(CutMode), st.integers(0, 3)),
        st.tuples(st.just("reboot")),
    ),
    min_size=10,
    max_size=80,
)


def outcome(action, *args) -> type[Exception] | None:
    """The FlashError type ``action(*args)`` raised, or None."""
    try:
        action(*args)
    except FlashError as exc:
        return type(exc)
    return None


@given(ops=operations, strict=st.booleans(), seed=st.integers(0, 2**32))
def test_device_matches_reference_model(tiny_nor, ops, strict, seed):
    device = NorFlash(tiny_nor, strict=strict, seed=seed, wear_out=WearOutMode.PROGRAM_ERROR)
    model = ReferenceNor(tiny_nor, strict)
    sectors_per_block = tiny_nor.block_size // tiny_nor.sector_size
    for op in ops:
        kind = op[0]
        if kind in ("program", "program_low"):
            address = op[1]
            # "program_low" writes zeros: always a legal bit-clearing program if it stays in one page.
            data = op[2] if kind == "program" else bytes(op[2])
            got = outcome(device.program, address, data)
            expected = model.program(address, data, device)
        elif kind in ("erase", "block"):
            index, width = op[1], (1 if kind == "erase" else sectors_per_block)
            erase = device.erase_sector if kind == "erase" else device.erase_block
            got = outcome(erase, index)
            limit = tiny_nor.sector_count // width
            if not model.powered:
                expected = PoweredOff
            elif not 0 <= index < limit:
                expected = FlashError
            else:
                expected = model.erase(range(index * width, (index + 1) * width), device)
        elif kind == "read":
            address, length = op[1], op[2]
            got = outcome(device.read, address, length)
            if not model.powered:
                expected = PoweredOff
            elif address < 0 or address + length > tiny_nor.size:
                expected = FlashError
            else:
                expected = None
        elif kind == "cut":
            at = device.operations + op[2]
            device.schedule_cut(at, op[1])
            model.cuts[at] = op[1]
            continue
        else:
            device.reboot()
            model.powered = True
            continue
        assert got is expected, (op, got, expected)
        assert device.powered == model.powered
        assert device.operations == model.operations
        assert device.stats.erase_counts == model.erase_counts
        assert device.stats.double_writes == model.double_writes
        assert device.stats.power_cuts == model.power_cuts
    device.reboot()
    assert list(device.read(0, tiny_nor.size)) == model.memory
