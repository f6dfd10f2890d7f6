"""gay.hy compatibility: the seed document's two published figures, reproduced."""

from exo_gay import gayhy, spi


def test_published_triadic_xor():
    assert gayhy.triadic_xor(spi.IHOR_SEED) == 0x4815E08ADAB9DCFE


def test_turbo32_hash_is_32_bit_and_differs_from_canonical():
    for i in range(100):
        h = gayhy.turbo32_hash(spi.IHOR_SEED, i)
        assert 0 <= h < 1 << 32
    assert gayhy.turbo32_hash(spi.IHOR_SEED, 0) != spi.color_at(spi.IHOR_SEED, 0) & 0xFFFFFFFF


def test_gayhy_fp_does_not_compose():
    # seed ^ XOR: over two parts the seed cancels, so the display value of the whole differs
    # from the XOR of the parts' display values. That is why it is not the fingerprint.
    seed = spi.IHOR_SEED
    a, b = gayhy.turbo32_xor(seed, 0, 50), gayhy.turbo32_xor(seed, 50, 50)
    whole = gayhy.turbo32_xor(seed, 0, 100)
    assert a ^ b == whole
    assert gayhy.gayhy_fp(seed, a) ^ gayhy.gayhy_fp(seed, b) != gayhy.gayhy_fp(seed, whole)
