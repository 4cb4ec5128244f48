//! Text rendering of tracer results: per outcome, each hook step with the rules that
//! matched (`CHAIN#N  -A CHAIN ...`), then the route, NAT and verdict; and a summary
//! of destinations with their probabilities (`10.244.1.5:8080   50.0%  ACCEPT`).

use super::trace::{MAX_OUTCOMES, TraceOutcome, TraceReport};

impl TraceReport {
    /// Human-readable report: each outcome with its hook steps and matched rules,
    /// then a summary of destinations with probabilities.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let n = self.outcomes.len();
        for (i, o) in self.outcomes.iter().enumerate() {
            s += &format!("Outcome {} of {n} (probability {}):\n", i + 1, percent(o.probability));
            s += &o.to_text();
        }
        if self.truncated {
            s += &format!("(stopped after {MAX_OUTCOMES} outcomes)\n");
        }
        s += "Summary:\n";
        for o in &self.outcomes {
            s += &format!("  {}  {:>6}  {}\n", o.destination(), percent(o.probability), o.short_result());
        }
        s
    }
}

impl TraceOutcome {
    /// `10.244.1.5:8080` (no port for ICMP).
    pub fn destination(&self) -> String {
        if self.dport == 0 && self.sport == 0 {
            self.dst.to_string()
        } else {
            format!("{}:{}", self.dst, self.dport)
        }
    }

    fn short_result(&self) -> String {
        let mut r = self.verdict.clone();
        if let Some(at) = &self.stopped_at {
            r += &format!(" in {at}");
        }
        if self.masquerade_mark {
            r += ", marked for masquerade (0x4000)";
        }
        if let Some(snat) = &self.snat {
            r += &format!(", {snat}");
        }
        r
    }

    /// The steps of this outcome, indented, then its result.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for st in &self.steps {
            s += &format!("  {} {}: {}\n", st.table, st.hook, st.verdict);
            for h in &st.hits {
                s += &format!("    {}#{}  {}\n", h.chain, h.num, h.rule);
            }
            for l in &st.logs {
                s += &format!("    LOG {l}\n");
            }
        }
        s += &format!("  route: {}\n", self.route);
        if let Some(d) = &self.dnat {
            s += &format!("  dnat: {d}\n");
        }
        if let Some(d) = &self.snat {
            s += &format!("  snat: {d}\n");
        }
        s += &format!("  masquerade mark 0x4000: {}\n", if self.masquerade_mark { "yes" } else { "no" });
        let at = self.stopped_at.as_ref().map(|a| format!(" in {a}")).unwrap_or_default();
        s += &format!(
            "  result: {}{at}  {}:{} -> {}\n",
            self.verdict,
            self.src,
            self.sport,
            self.destination()
        );
        s
    }
}

/// `33.3%` (one decimal).
pub fn percent(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}
