use super::*;

/// Deterministic pseudo-random values in [-scale, scale] (xorshift).
pub(crate) fn rand_vec(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A tiny random-weight BERT: 2 layers, H=32, 4 heads, FF=64, vocab 50, 16 positions.
pub(crate) fn tiny_bert(seed: u64, q4_words: bool) -> Bert {
    let mut s = seed.max(1);
    let cfg = BertConfig {
        hidden: 32,
        heads: 4,
        intermediate: 64,
        max_positions: 16,
        layer_norm_eps: 1e-12,
    };
    let (h, f, vocab) = (cfg.hidden, cfg.intermediate, 50);
    let word = if q4_words {
        // Random Q4_0 blocks with scale 0.05 (fp16 0x2a66).
        let mut b = Vec::new();
        let nib = rand_vec(vocab * h / 2, &mut s, 1.0);
        for (i, v) in nib.iter().enumerate() {
            if i % 16 == 0 {
                b.extend_from_slice(&0x2a66u16.to_le_bytes());
            }
            b.push(((v.abs() * 255.0) as u8).max(1));
        }
        WordEmbeddings::Q4(b)
    } else {
        WordEmbeddings::F32(rand_vec(vocab * h, &mut s, 1.0))
    };
    let layer = |s: &mut u64| {
        let qkv = Linear::new(rand_vec(h * 3 * h, s, 0.3), rand_vec(3 * h, s, 0.1), h);
        let attn_out = Linear::new(rand_vec(h * h, s, 0.3), rand_vec(h, s, 0.1), h);
        let ln1_w = rand_vec(h, s, 0.2).iter().map(|v| 1.0 + v).collect();
        let ln1_b = rand_vec(h, s, 0.1);
        let ffn_up = Linear::new(rand_vec(h * f, s, 0.3), rand_vec(f, s, 0.1), h);
        let ffn_down = Linear::new(rand_vec(f * h, s, 0.3), rand_vec(h, s, 0.1), f);
        Layer {
            qkv,
            attn_out,
            ln1_w,
            ln1_b,
            ffn_up,
            ffn_down,
            ln2_w: rand_vec(h, s, 0.2).iter().map(|v| 1.0 + v).collect(),
            ln2_b: rand_vec(h, s, 0.1),
        }
    };
    let layers = vec![layer(&mut s), layer(&mut s)];
    Bert {
        word,
        pos: rand_vec(cfg.max_positions * h, &mut s, 0.5),
        token_type: rand_vec(h, &mut s, 0.5),
        emb_ln_w: vec![1.0; h],
        emb_ln_b: vec![0.0; h],
        layers,
        cfg,
    }
}

fn w32(l: &Linear) -> &[f32] {
    match &l.w {
        Weights::F32(w) => w,
        Weights::Bf16(_) => panic!("reference needs f32 weights"),
    }
}

/// Straightforward padded-batch reference: per sequence, per head, explicit loops.
fn reference(m: &Bert, seq: &[u32]) -> Vec<f32> {
    let c = &m.cfg;
    let (h, f, nh) = (c.hidden, c.intermediate, c.heads);
    let hd = h / nh;
    let l = seq.len();
    let mut x = vec![0.0; l * h];
    for (p, &id) in seq.iter().enumerate() {
        m.word.row(id as usize, &mut x[p * h..(p + 1) * h]).unwrap();
        for i in 0..h {
            x[p * h + i] += m.pos[p * h + i] + m.token_type[i];
        }
    }
    ops::add_layer_norm(
        &mut x,
        None,
        &m.emb_ln_w,
        &m.emb_ln_b,
        c.layer_norm_eps,
        Exec::Rayon,
    );
    let lin = |inp: &[f32], w: &[f32], b: &[f32], k: usize, n: usize| {
        let mut o = vec![0.0; l * n];
        for t in 0..l {
            for j in 0..n {
                o[t * n + j] = b[j] + (0..k).map(|i| inp[t * k + i] * w[i * n + j]).sum::<f32>();
            }
        }
        o
    };
    for ly in &m.layers {
        let qkv = lin(&x, w32(&ly.qkv), &ly.qkv.b, h, 3 * h);
        let mut ctx = vec![0.0; l * h];
        for hh in 0..nh {
            for t in 0..l {
                let mut sc: Vec<f32> = (0..l)
                    .map(|u| {
                        (0..hd)
                            .map(|d| {
                                qkv[t * 3 * h + hh * hd + d] * qkv[u * 3 * h + h + hh * hd + d]
                            })
                            .sum::<f32>()
                            / (hd as f32).sqrt()
                    })
                    .collect();
                ops::softmax_rows(&mut sc, l);
                for d in 0..hd {
                    ctx[t * h + hh * hd + d] = (0..l)
                        .map(|u| sc[u] * qkv[u * 3 * h + 2 * h + hh * hd + d])
                        .sum();
                }
            }
        }
        let a = lin(&ctx, w32(&ly.attn_out), &ly.attn_out.b, h, h);
        ops::add_layer_norm(
            &mut x,
            Some(&a),
            &ly.ln1_w,
            &ly.ln1_b,
            c.layer_norm_eps,
            Exec::Rayon,
        );
        let mut mid = lin(&x, w32(&ly.ffn_up), &ly.ffn_up.b, h, f);
        for v in &mut mid {
            *v = 0.5 * *v * (1.0 + ops::erf(*v / 2f32.sqrt()));
        }
        let o = lin(&mid, w32(&ly.ffn_down), &ly.ffn_down.b, f, h);
        ops::add_layer_norm(
            &mut x,
            Some(&o),
            &ly.ln2_w,
            &ly.ln2_b,
            c.layer_norm_eps,
            Exec::Rayon,
        );
    }
    let mut v = vec![0.0; h];
    for t in 0..l {
        for i in 0..h {
            v[i] += x[t * h + i] / l as f32;
        }
    }
    l2_normalize(&mut v);
    v
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn tiny_model_validates_and_has_unit_vectors_of_hidden_size() {
    for q4 in [false, true] {
        let m = tiny_bert(7, q4);
        m.validate().unwrap();
        let out = m.embed(&[&[1, 5, 9, 2], &[1, 2]]).unwrap();
        assert_eq!(out.len(), 2);
        for v in &out {
            assert_eq!(v.len(), 32);
            let n: f32 = v.iter().map(|a| a * a).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        assert!(
            max_diff(&out[0], &out[1]) > 1e-3,
            "different inputs, different vectors"
        );
    }
}

#[test]
fn packed_forward_matches_naive_reference() {
    let m = tiny_bert(11, false);
    let seqs: Vec<Vec<u32>> = vec![
        vec![1, 7, 8, 9, 2],
        vec![1, 3, 2],
        vec![1, 40, 41, 42, 43, 44, 45, 2],
    ];
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let got = m.embed(&refs).unwrap();
    for (s, g) in seqs.iter().zip(&got) {
        let want = reference(&m, s);
        assert!(
            max_diff(g, &want) < 1e-4,
            "packed vs reference: {}",
            max_diff(g, &want)
        );
    }
}

#[test]
fn bf16_forward_tracks_the_f32_forward() {
    let seqs: [&[u32]; 3] = [
        &[1, 7, 8, 9, 2],
        &[1, 3, 2],
        &[1, 40, 41, 42, 43, 44, 45, 2],
    ];
    let f32_model = tiny_bert(13, false);
    let want = f32_model.embed(&seqs).unwrap();
    let mut m = tiny_bert(13, false);
    if !m.use_bf16().unwrap() {
        eprintln!("skipped: this CPU has no AVX-512 BF16");
        return;
    }
    assert!(
        m.layers
            .iter()
            .all(|l| matches!(l.ffn_down.w, Weights::Bf16(_)))
    );
    m.validate().unwrap();
    let got = m.embed(&seqs).unwrap();
    for (g, w) in got.iter().zip(&want) {
        let cos: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "cosine {cos}");
        assert!(max_diff(g, w) > 0.0, "bf16 path really ran");
    }
    // One sequence at a time: attention splits by head instead of by sequence.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (seq, w) in seqs.iter().zip(&want) {
        let alone = pool.install(|| m.embed(&[seq]).unwrap());
        let cos: f32 = alone[0].iter().zip(w).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "cosine {cos}");
    }
}

#[test]
fn reused_buffers_give_the_same_vectors_as_fresh_ones() {
    for bf16 in [false, true] {
        let mut m = tiny_bert(19, false);
        if bf16 && !m.use_bf16().unwrap() {
            continue;
        }
        let big: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7, 8], &[1, 9, 2], &[1, 20, 21, 22, 2]];
        let small: [&[u32]; 1] = [&[1, 30, 2]];
        let mut scratch = Scratch::default();
        // Large batch first, so the small one runs on longer, dirty buffers.
        m.embed_with(&big, &mut scratch).unwrap();
        let reused = m.embed_with(&small, &mut scratch).unwrap();
        assert_eq!(reused, m.embed(&small).unwrap());
        let again = m.embed_with(&big, &mut scratch).unwrap();
        assert_eq!(again, m.embed(&big).unwrap());
    }
}

#[test]
fn batch_neighbours_do_not_change_a_vector() {
    // The packed layout's equivalent of "padding must not change a sentence's vector": a
    // short sentence batched with longer ones (which would pad it to their length in a
    // padded layout) gets the same vector as alone.
    let m = tiny_bert(3, true);
    let short: &[u32] = &[1, 4, 2];
    let alone = m.embed(&[short]).unwrap().remove(0);
    let long1: &[u32] = &[1, 5, 6, 7, 8, 9, 10, 11, 12, 2];
    let long2: &[u32] = &[1, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 2];
    let batched = m.embed(&[long1, short, long2]).unwrap();
    assert!(max_diff(&alone, &batched[1]) < 1e-5);
    let long2_alone = m.embed(&[long2]).unwrap().remove(0);
    assert!(max_diff(&long2_alone, &batched[2]) < 1e-5);
}

#[test]
fn rejects_bad_sequences_and_shapes() {
    let m = tiny_bert(5, false);
    assert!(m.embed(&[&[]]).is_err());
    assert!(m.embed(&[&[1, 999]]).is_err());
    assert!(m.embed(&[&[1; 17]]).is_err());
    assert!(m.embed(&[&[1; 16]]).is_ok());
    let mut broken = tiny_bert(5, false);
    broken.layers[1].ffn_down.b.pop();
    assert!(broken.validate().is_err());
}

#[test]
fn fuse_transposed_lays_out_in_by_out() {
    // Two [out=2, in=3] matrices -> [3, 4].
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
    let f = fuse_transposed(&[&a, &b], 3).unwrap();
    assert_eq!(
        f,
        vec![
            1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0, 3.0, 6.0, 9.0, 12.0
        ]
    );
}
