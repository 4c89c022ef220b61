//! JSON numbers into `f32` fields without moving them across a range bound.
//!
//! Rounding to the nearest `f32` can pull a value that is out of range onto the bound
//! (`2.0000000001` becomes `2.0`, so `temperature` would pass `[0, 2]`) or a tiny positive
//! value onto zero (`1e-300` fails `top_p > 0`). Rounding inexact values away from zero keeps
//! every value on the same side of every bound that an `f32` represents exactly, which all
//! of this crate's bounds are; validation then agrees with the documented ranges.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `x` as an `f32`, rounded away from zero when it is not exactly representable.
pub(crate) fn f32_away_from_zero(x: f64) -> f32 {
    let r = x as f32;
    if r.is_finite() && f64::from(r).abs() < x.abs() {
        // The bit pattern's magnitude grows by one ulp away from zero, whatever the sign
        // (and from ±0.0 to the smallest subnormal of that sign).
        f32::from_bits(r.to_bits() + 1)
    } else {
        r
    }
}

/// For `Option<f32>` fields.
pub(crate) fn opt_f32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.map(f32_away_from_zero))
}

/// For `Option<BTreeMap<String, f32>>` fields.
pub(crate) fn opt_f32_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, f32>>, D::Error> {
    Ok(Option::<BTreeMap<String, f64>>::deserialize(d)?.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, f32_away_from_zero(v)))
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inexact_values_stay_on_their_side_of_bounds() {
        assert_eq!(f32_away_from_zero(2.0), 2.0);
        assert!(f32_away_from_zero(2.000_000_000_1) > 2.0);
        assert!(f32_away_from_zero(-2.000_000_000_1) < -2.0);
        assert!(f32_away_from_zero(1.999_999_999_9) <= 2.0);
        assert!(f32_away_from_zero(1e-300) > 0.0);
        assert!(f32_away_from_zero(-1e-300) < 0.0);
        assert_eq!(f32_away_from_zero(0.0), 0.0);
        assert_eq!(f32_away_from_zero(0.5), 0.5);
        assert!(f32_away_from_zero(0.1) >= 0.1);
        assert!(f32_away_from_zero(1e300).is_infinite());
    }

    #[test]
    fn validation_agrees_with_the_documented_ranges() {
        let req = |extra: &str| {
            serde_json::from_str::<crate::chat::ChatCompletionRequest>(&format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],{extra}}}"#
            ))
            .unwrap()
            .validate()
        };
        assert!(req(r#""temperature":2.0000000001"#).is_err());
        assert!(req(r#""temperature":2"#).is_ok());
        assert!(req(r#""top_p":1e-300"#).is_ok());
        assert!(req(r#""top_p":1.0000000001"#).is_err());
        assert!(req(r#""presence_penalty":-2.0000000001"#).is_err());
        assert!(req(r#""nvext":{"repetition_penalty":1e-300}"#).is_ok());
        assert!(req(r#""logit_bias":{"5":100.00000001}"#).is_err());
        assert!(req(r#""logit_bias":{"5":-100}"#).is_ok());
    }
}
