//! Directory-index hashes (legacy, half-MD4, TEA; signed and unsigned variants).

/// Hash versions as stored in the dx root (`+3` = unsigned-char variant).
pub(crate) const LEGACY: u8 = 0;
pub(crate) const HALF_MD4: u8 = 1;
pub(crate) const TEA: u8 = 2;
pub(crate) const LEGACY_UNSIGNED: u8 = 3;
pub(crate) const HALF_MD4_UNSIGNED: u8 = 4;
pub(crate) const TEA_UNSIGNED: u8 = 5;

fn char_val(c: u8, unsigned: bool) -> u32 {
    if unsigned {
        u32::from(c)
    } else {
        i32::from(c as i8) as u32
    }
}

fn legacy(name: &[u8], unsigned: bool) -> u32 {
    let (mut h0, mut h1): (u32, u32) = (0x12a3_fe2d, 0x37ab_e8f9);
    for &c in name {
        let mut h = h1.wrapping_add(h0 ^ char_val(c, unsigned).wrapping_mul(7_152_373));
        if h & 0x8000_0000 != 0 {
            h = h.wrapping_sub(0x7fff_ffff);
        }
        h1 = h0;
        h0 = h;
    }
    h0 << 1
}

/// Packs up to `out.len()*4` name bytes into words, padded with the length pattern.
fn str2hashbuf(msg: &[u8], out: &mut [u32], unsigned: bool) {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut val = pad;
    let take = msg.len().min(out.len() * 4);
    let mut n = 0;
    for (i, &c) in msg[..take].iter().enumerate() {
        val = char_val(c, unsigned).wrapping_add(val << 8);
        if i % 4 == 3 {
            out[n] = val;
            n += 1;
            val = pad;
        }
    }
    if n < out.len() {
        out[n] = val;
        n += 1;
    }
    for w in &mut out[n..] {
        *w = pad;
    }
}

fn tea_transform(buf: &mut [u32; 4], inp: &[u32; 4]) {
    let mut sum: u32 = 0;
    let (mut b0, mut b1) = (buf[0], buf[1]);
    let (a, b, c, d) = (inp[0], inp[1], inp[2], inp[3]);
    for _ in 0..16 {
        sum = sum.wrapping_add(0x9E37_79B9);
        b0 = b0.wrapping_add(
            (b1 << 4).wrapping_add(a) ^ b1.wrapping_add(sum) ^ (b1 >> 5).wrapping_add(b),
        );
        b1 = b1.wrapping_add(
            (b0 << 4).wrapping_add(c) ^ b0.wrapping_add(sum) ^ (b0 >> 5).wrapping_add(d),
        );
    }
    buf[0] = buf[0].wrapping_add(b0);
    buf[1] = buf[1].wrapping_add(b1);
}

fn half_md4_transform(buf: &mut [u32; 4], x: &[u32; 8]) {
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    const K2: u32 = 0x5A82_7999;
    const K3: u32 = 0x6ED9_EBA1;
    let (mut a, mut b, mut c, mut d) = (buf[0], buf[1], buf[2], buf[3]);
    macro_rules! round {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a
                .wrapping_add($f($b, $c, $d))
                .wrapping_add($x)
                .rotate_left($s);
        };
    }
    round!(f, a, b, c, d, x[0], 3);
    round!(f, d, a, b, c, x[1], 7);
    round!(f, c, d, a, b, x[2], 11);
    round!(f, b, c, d, a, x[3], 19);
    round!(f, a, b, c, d, x[4], 3);
    round!(f, d, a, b, c, x[5], 7);
    round!(f, c, d, a, b, x[6], 11);
    round!(f, b, c, d, a, x[7], 19);

    round!(g, a, b, c, d, x[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, x[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[6].wrapping_add(K2), 13);

    round!(h, a, b, c, d, x[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, x[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[4].wrapping_add(K3), 15);

    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

/// The major hash of `name` (low bit clear), or `None` for an unknown version.
pub(crate) fn dx_hash(name: &[u8], version: u8, seed: &[u32; 4]) -> Option<u32> {
    let mut buf: [u32; 4] = if seed.iter().any(|&w| w != 0) {
        *seed
    } else {
        [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]
    };
    let hash = match version {
        LEGACY | LEGACY_UNSIGNED => legacy(name, version == LEGACY_UNSIGNED),
        HALF_MD4 | HALF_MD4_UNSIGNED => {
            let unsigned = version == HALF_MD4_UNSIGNED;
            let mut p = name;
            // The kernel runs the transform at least over the padding of an empty name.
            loop {
                let mut inp = [0u32; 8];
                str2hashbuf(p, &mut inp, unsigned);
                half_md4_transform(&mut buf, &inp);
                if p.len() <= 32 {
                    break;
                }
                p = &p[32..];
            }
            buf[1]
        }
        TEA | TEA_UNSIGNED => {
            let unsigned = version == TEA_UNSIGNED;
            let mut p = name;
            loop {
                let mut inp = [0u32; 4];
                str2hashbuf(p, &mut inp, unsigned);
                tea_transform(&mut buf, &inp);
                if p.len() <= 16 {
                    break;
                }
                p = &p[16..];
            }
            buf[0]
        }
        _ => return None,
    };
    let hash = hash & !1;
    // 0x7fffffff << 1 marks end-of-directory for 32-bit readdir cookies.
    Some(if hash == 0xFFFF_FFFE {
        0xFFFF_FFFC
    } else {
        hash
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// s_hash_seed as stored for uuid 0b8a6a1e-1f2d-4c3b-8e7f-6a5b4c3d2e1f.
    const SEED: [u32; 4] = [0x1e6a_8a0b, 0x3b4c_2d1f, 0x5b6a_7f8e, 0x1f2e_3d4c];

    /// Expected values from e2fsprogs: `debugfs -R "dx_hash -h V -s UUID NAME"`.
    #[test]
    fn matches_e2fsprogs() {
        let x40 = "x".repeat(40);
        let u = format!("{}xyz", "ü".repeat(20));
        let cases: &[(&str, u8, u32)] = &[
            ("a", LEGACY, 0xe74b_53e2),
            ("a", HALF_MD4, 0x4a84_6d62),
            ("a", TEA, 0xf6f3_93ee),
            ("hello", LEGACY, 0x3225_2546),
            ("hello", HALF_MD4, 0x3928_94ee),
            ("hello", TEA, 0xd580_47d4),
            ("file_with_a_longish_name_1", HALF_MD4, 0xedd7_2cea),
            ("file_with_a_longish_name_1", TEA, 0x8e53_e534),
            (&x40, LEGACY, 0x382d_277e),
            (&x40, HALF_MD4, 0x471f_ea24),
            (&x40, TEA, 0x5089_fea6),
            ("é", LEGACY, 0x1108_3c86),
            ("é", HALF_MD4, 0x0638_c604),
            ("é", TEA, 0x7398_6688),
            ("é", LEGACY_UNSIGNED, 0x878c_a486),
            ("é", HALF_MD4_UNSIGNED, 0xbca7_49c6),
            ("é", TEA_UNSIGNED, 0x25bf_2f28),
            (&u, LEGACY, 0xb8e1_3f9e),
            (&u, HALF_MD4, 0xd191_2e64),
            (&u, TEA, 0x6df1_f2c2),
            (&u, LEGACY_UNSIGNED, 0x4260_a0e2),
            (&u, HALF_MD4_UNSIGNED, 0x448f_920c),
            (&u, TEA_UNSIGNED, 0xf384_ae3a),
        ];
        for &(name, v, want) in cases {
            assert_eq!(
                dx_hash(name.as_bytes(), v, &SEED),
                Some(want),
                "{name} v{v}"
            );
        }
        // An all-zero seed falls back to the MD4 initial values.
        assert_eq!(dx_hash(b"a", HALF_MD4, &[0; 4]), Some(0xd5fa_7d7a));
        assert_eq!(dx_hash(b"a", 6, &SEED), None);
    }
}
