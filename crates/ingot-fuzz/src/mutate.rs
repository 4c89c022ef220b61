//! A small deterministic byte mutator (xorshift64*), for the fixed-seed runs of the test
//! command: bit flips, byte sets, inserts, deletes, duplications, splices with another
//! input, and interesting values (boundary integers, JSON and SSE tokens).

/// Bytes worth dropping into inputs: boundary numbers, JSON, SSE and HTML tokens.
const TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1e999",
    b"-0.0",
    b"4294967295",
    b"18446744073709551616",
    b"9223372036854775807",
    b"null",
    b"true",
    b"\"\"",
    b"[]",
    b"{}",
    b"\"\\ud800\"",
    b"\\u0000",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"data: ",
    b"data: [DONE]",
    b"event: error",
    b":",
    b"<img src=",
    b"data:image/png;base64,",
    b";base64,",
    b"{{",
    b"{%",
    b"\xff\xfe",
    b"\xf0\x9f\x98\x80",
    b"=",
    b"[[",
];

/// Interesting integer values, written little- and big-endian.
const INTS: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
    32,
    4096,
];

/// The mutator's state.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

impl Mutator {
    /// A mutator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// `input` with one to four mutations applied, `others` being the inputs to splice
    /// from, at most `max_len` bytes long.
    pub fn mutate(&mut self, input: &[u8], others: &[Vec<u8>], max_len: usize) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            self.once(&mut out, others);
        }
        out.truncate(max_len);
        out
    }

    fn once(&mut self, out: &mut Vec<u8>, others: &[Vec<u8>]) {
        let at = self.below(out.len() + 1);
        match self.below(9) {
            // Flip a bit.
            0 if at < out.len() => out[at] ^= 1 << self.below(8),
            // Set a byte.
            1 if at < out.len() => out[at] = self.next_u64() as u8,
            // Delete a run.
            2 if at < out.len() => {
                let n = 1 + self.below((out.len() - at).min(16));
                out.drain(at..at + n);
            }
            // Insert random bytes.
            3 => {
                let n = 1 + self.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| self.next_u64() as u8).collect();
                out.splice(at..at, bytes);
            }
            // Duplicate a run.
            4 if at < out.len() => {
                let n = 1 + self.below((out.len() - at).min(64));
                let run = out[at..at + n].to_vec();
                out.splice(at..at, run);
            }
            // Splice in a piece of another input.
            5 if !others.is_empty() => {
                let other = &others[self.below(others.len())];
                let from = self.below(other.len());
                let n = self.below(other.len() - from + 1);
                out.splice(at..at, other[from..from + n].iter().copied());
            }
            // Insert a token.
            6 => {
                let t = TOKENS[self.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            // Overwrite with an interesting integer (2, 4 or 8 bytes, either endianness).
            7 => {
                let v = INTS[self.below(INTS.len())];
                let width = [2, 4, 8][self.below(3)];
                let (le, be) = (v.to_le_bytes(), v.to_be_bytes());
                let bytes = if self.below(2) == 0 {
                    &le[..width]
                } else {
                    &be[8 - width..]
                };
                let end = (at + bytes.len()).min(out.len());
                out.splice(at..end, bytes.iter().copied());
            }
            // Truncate.
            _ => out.truncate(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mutations() {
        let seeds = vec![b"{\"model\":\"m\"}".to_vec(), b"data: x\n\n".to_vec()];
        let run = |seed| {
            let mut m = Mutator::new(seed);
            (0..100)
                .map(|i| m.mutate(&seeds[i % 2], &seeds, 64))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().all(|m| m.len() <= 64));
        // It does change inputs.
        assert!(run(7).iter().filter(|m| !seeds.contains(m)).count() > 80);
    }
}
