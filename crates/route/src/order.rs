//! Capacity-aware ordering of a profile's destination regions (DESIGN.md §2 rule 3):
//! the source region first if it has room, then the others by available capacity, most
//! first. Regions with no capacity (saturated or cooling down) are not tried at all.

use spillway_catalog::Offer;

/// `capacity` is the share of a region's capacity that is free, 0.0–1.0.
pub fn by_capacity<'c>(
    candidates: &[&'c Offer],
    source_region: &str,
    capacity: impl Fn(&Offer) -> f64,
) -> Vec<&'c Offer> {
    let mut scored: Vec<(&Offer, f64)> =
        candidates.iter().map(|o| (*o, capacity(o))).filter(|(_, free)| *free > 0.0).collect();
    let source = scored.iter().position(|(o, _)| o.region == source_region).map(|i| scored.remove(i));
    // A stable sort keeps the profile's order among regions with equal room.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    source.into_iter().chain(scored).map(|(o, _)| o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_catalog::Access;

    fn offer(region: &str) -> Offer {
        Offer {
            region: region.into(),
            access: Access::OnDemand,
            backend: "b".into(),
            backend_model: "m".into(),
            rpm: 1,
            tpm: 1,
        }
    }

    fn order(source: &str, caps: &[(&str, f64)]) -> Vec<String> {
        let offers: Vec<Offer> = caps.iter().map(|(r, _)| offer(r)).collect();
        let refs: Vec<&Offer> = offers.iter().collect();
        let cap = |o: &Offer| caps.iter().find(|(r, _)| *r == o.region).map_or(0.0, |(_, c)| *c);
        by_capacity(&refs, source, cap).into_iter().map(|o| o.region.clone()).collect()
    }

    /// (source region, free capacity per region, expected order)
    type Case<'a> = (&'a str, &'a [(&'a str, f64)], &'a [&'a str]);

    #[test]
    fn table() {
        let cases: &[Case<'_>] = &[
            // Source has room: it goes first even if others have more.
            ("a", &[("a", 0.1), ("b", 0.9), ("c", 0.5)], &["a", "b", "c"]),
            // Source full: the others by capacity, most first.
            ("a", &[("a", 0.0), ("b", 0.2), ("c", 0.7)], &["c", "b"]),
            // Source not in the candidates (model not offered there, seed 000's Paris).
            ("p", &[("b", 0.3), ("c", 0.3), ("d", 0.6)], &["d", "b", "c"]),
            // Nothing has room: nothing to try (the caller answers a throttle).
            ("a", &[("a", 0.0), ("b", 0.0)], &[]),
        ];
        for (source, caps, want) in cases {
            assert_eq!(order(source, caps), *want, "source {source} caps {caps:?}");
        }
    }
}
