use super::*;

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .err()
        .map(|e| e.0.iter().map(|d| d.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn every_problem_is_reported_with_its_step() {
    let all = errors(
        "
name: broken
steps:
  - { id: a, action: some-module }
  - { id: b, condition: 'vars.x >', then: nowhere, else: end }
  - { id: a, delay: { for: soon } }
  - { id: c, action: m, retry: { attempts: 0 } }
  - { id: d }
",
    );
    let text = all.join("\n");
    for needle in [
        "steps[1] (id \"b\").condition: syntax error",
        "steps[1] (id \"b\").then: there is no step `nowhere`",
        "steps[2] (id \"a\"): step id `a` is used twice",
        "steps[2] (id \"a\").delay.for: `soon` is not a duration",
        "steps[3] (id \"c\").retry.attempts: must be between 1 and 100",
        "steps[4] (id \"d\"): a step has exactly one of",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn defaults_fill_next_and_goal_paths() {
    let wf = parse("name: w\nscope: { object: deal }\nsteps:\n  - { id: a, goal: { within: 1d } }\n  - { id: b, stop: {} }\n").unwrap();
    assert_eq!(wf.steps[0].next, Target::Step("b".into()));
    assert!(
        matches!(&wf.steps[0].kind, StepKind::Goal { met: Target::Step(b), not_met: Target::End, .. } if b == "b")
    );
    assert_eq!(wf.steps[1].next, Target::End);
}
