use super::*;
use serde_json::json;

fn compile(v: Value) -> (Condition, Vec<RuleError>) {
    let mut errors = Vec::new();
    let c = Condition::compile(&v, "segments[2].condition", &mut errors);
    (c, errors)
}

fn errors_of(v: Value) -> Vec<String> {
    compile(v).1.iter().map(|e| e.to_string()).collect()
}

fn eval(cond: Value, attrs: Value) -> bool {
    eval_condition(&attrs, &cond, &SavedGroups::new())
}

#[test]
fn well_formed_conditions_have_no_errors() {
    let (_, errors) = compile(json!({
        "views_10m": {"$gte": 3},
        "country": {"$in": ["DE", "AT"]},
        "$or": [{"ua": {"$regexi": "mobile"}}, {"v": {"$vgte": "1.2.0"}}],
        "$not": {"segments": {"$elemMatch": {"$eq": "buyer"}}},
        "$groups": {"$size": {"$gt": 0}},
        "tags": {"$all": ["a"], "$type": "array", "$exists": true},
    }));
    assert_eq!(errors, vec![]);
}

#[test]
fn wrong_operand_types_name_path_expectation_and_finding() {
    assert_eq!(
        errors_of(json!({"views_10m": {"$gte": {"n": 3}}})),
        ["segments[2].condition.views_10m.$gte: expected a number or a string, got an object"]
    );
    assert_eq!(
        errors_of(json!({"country": {"$in": "DE"}})),
        ["segments[2].condition.country.$in: expected an array, got \"DE\""]
    );
    assert_eq!(
        errors_of(json!({"x": {"$exists": "yes"}})),
        ["segments[2].condition.x.$exists: expected true or false, got \"yes\""]
    );
    assert_eq!(
        errors_of(json!({"$and": [{"a": 1}, 5]})),
        ["segments[2].condition.$and[1]: expected a condition (an object), got 5"]
    );
    assert_eq!(
        errors_of(json!({"$or": {"a": 1}})),
        ["segments[2].condition.$or: expected an array of conditions, got an object"]
    );
    assert_eq!(errors_of(json!({"a": {"$type": "str"}})).len(), 1);
    assert_eq!(errors_of(json!({"a": {"$type": 1}})).len(), 1);
    assert_eq!(errors_of(json!({"a": {"$eq": [1]}})).len(), 1);
}

#[test]
fn unknown_operators_suggest_the_closest_one() {
    let (c, errors) = compile(json!({"views_10m": {"$gtee": 3}}));
    assert_eq!(
        errors,
        vec![RuleError::new(
            "segments[2].condition.views_10m.$gtee",
            RuleErrorKind::UnknownOperator {
                operator: "$gtee".into(),
                suggestion: Some("$gte".into()),
            }
        )]
    );
    // GrowthBook: an unknown operator is false.
    assert!(!c.eval(&json!({"views_10m": 5}), &SavedGroups::new()));

    let (_, errors) = compile(json!({"x": {"$elemmatch": {"$eq": 1}}}));
    assert!(matches!(
        &errors[0].kind,
        RuleErrorKind::UnknownOperator { suggestion: Some(s), .. } if s == "$elemMatch"
    ));
    let (_, errors) = compile(json!({"x": {"$banana": 1}}));
    assert!(matches!(
        &errors[0].kind,
        RuleErrorKind::UnknownOperator {
            suggestion: None,
            ..
        }
    ));
}

#[test]
fn top_level_dollar_keys_are_attributes_unless_they_look_like_operators() {
    // `$groups` is an attribute name in GrowthBook.
    assert_eq!(
        errors_of(json!({"$groups": {"$elemMatch": {"$eq": "a"}}})),
        Vec::<String>::new()
    );
    let (_, errors) = compile(json!({"$ors": [{"a": 1}]}));
    assert!(matches!(
        &errors[0].kind,
        RuleErrorKind::UnknownOperator { suggestion: Some(s), .. } if s == "$or"
    ));
    assert_eq!(errors[0].path, "segments[2].condition.$ors");
    assert_eq!(errors_of(json!({"$in": [1]})).len(), 1);
    assert_eq!(errors_of(json!({"a": {"$or": []}})).len(), 1);
}

#[test]
fn nested_paths_follow_logical_operators_and_quote_odd_keys() {
    assert_eq!(
        errors_of(json!({"$or": [{"a": 1}, {"$not": {"page.path": {"$nin": 3}}}]})),
        ["segments[2].condition.$or[1].$not[\"page.path\"].$nin: expected an array, got 3"]
    );
    assert_eq!(
        errors_of(json!({"tags": {"$alli": ["a", {"$bad": 1}]}})),
        ["segments[2].condition.tags.$alli[1].$bad: unknown operator \"$bad\""]
    );
}

#[test]
fn bad_regexes_are_errors_and_evaluate_false() {
    let (c, errors) = compile(json!({"ua": {"$regex": "(unclosed"}}));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "segments[2].condition.ua.$regex");
    assert!(matches!(&errors[0].kind, RuleErrorKind::BadRegex(m) if !m.contains('\n')));
    assert!(!c.eval(&json!({"ua": "(unclosed"}), &SavedGroups::new()));

    // JS-only syntax is reported, not silently mismatched.
    let (_, errors) = compile(json!({"ua": {"$regex": "a(?=b)"}}));
    assert!(matches!(&errors[0].kind, RuleErrorKind::BadRegex(_)));

    let (_, errors) = compile(json!({"ua": {"$regexi": 5}}));
    assert_eq!(errors.len(), 1);
}

#[test]
fn oversized_regexes_are_rejected() {
    // Each `\w{1000}` expands to a large Unicode program, far over the limit.
    let (c, errors) = compile(json!({"ua": {"$regex": "\\w{1000}\\w{1000}\\w{1000}"}}));
    assert_eq!(errors.len(), 1);
    match &errors[0].kind {
        RuleErrorKind::BadRegex(m) => assert!(m.contains("too large"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!c.eval(&json!({"ua": "x"}), &SavedGroups::new()));
}

#[test]
fn regexes_accept_escaped_slashes_like_javascript_patterns() {
    assert!(eval(
        json!({"path": {"$regex": "^\\/products\\/"}}),
        json!({"path": "/products/1"})
    ));
}

#[test]
fn referenced_paths_cover_logical_operators_but_not_elem_match_fields() {
    let (c, _) = compile(json!({
        "a.b": 1,
        "$and": [{"c": 2}, {"$or": [{"d": 3}, {"a.b": 4}]}],
        "$nor": [{"e": 1}],
        "$not": {"f": 1},
        "items": {"$elemMatch": {"price": {"$gt": 3}}},
    }));
    assert_eq!(c.referenced_paths(), ["a.b", "c", "d", "e", "f", "items"]);
}

#[test]
fn string_literals_for_collects_compared_strings() {
    let (c, _) = compile(json!({
        "segments": {"$in": ["a", "b"], "$nin": ["c", 1]},
        "$or": [
            {"segments": "d"},
            {"segments": {"$elemMatch": {"$eq": "e"}}},
            {"segments": {"$not": {"$all": ["f", "g"]}}},
            {"segments": {"$ne": "h", "$alli": ["I"]}},
            {"other": "zzz"},
        ],
        "$not": {"segments": ["j", "a"]},
    }));
    assert_eq!(
        c.string_literals_for("segments"),
        ["a", "b", "c", "d", "e", "f", "g", "h", "I", "j"]
    );
    assert_eq!(c.string_literals_for("other"), ["zzz"]);
    assert!(c.string_literals_for("nothing").is_empty());
}

#[test]
fn javascript_coercions_are_kept() {
    // A missing attribute is null: null < 10, null * 1 === 0, String(null) === "null".
    assert!(eval(json!({"age": {"$lt": 10}}), json!({})));
    assert!(eval(json!({"age": 0}), json!({})));
    assert!(eval(json!({"age": "null"}), json!({})));
    assert!(eval(json!({"tags": "a,b"}), json!({"tags": ["a", "b"]})));
    assert!(eval(
        json!({"n": {"$gt": "5", "$lt": "10"}}),
        json!({"n": 8})
    ));
    assert!(!eval(json!({"n": {"$gt": "5"}}), json!({"n": "10"}))); // string order
    assert!(eval(json!({"flag": true}), json!({"flag": "yes"})));
    assert!(!eval(json!({"flag": false}), json!({})));
    assert!(eval(
        json!({"tags.length": {"$gte": 2}}),
        json!({"tags": [1, 2]})
    ));
    assert!(eval(json!({"tags.1": "b"}), json!({"tags": ["a", "b"]})));
    // $elemMatch skips falsy elements.
    assert!(!eval(
        json!({"n": {"$elemMatch": {"$lt": 1}}}),
        json!({"n": [0, null]})
    ));
    // $regex converts its argument to a string.
    assert!(eval(json!({"x": {"$regex": "^nul"}}), json!({})));
    // An empty $or passes, so an empty $nor fails.
    assert!(eval(json!({"$or": []}), json!({})));
    assert!(!eval(json!({"$nor": []}), json!({})));
}

#[test]
fn saved_groups() {
    let mut groups = SavedGroups::new();
    groups.insert("vip".into(), json!(["a", "b"]));
    let c = Condition::compile(&json!({"id": {"$inGroup": "vip"}}), "", &mut Vec::new());
    assert!(c.eval(&json!({"id": "a"}), &groups));
    assert!(c.eval(&json!({"id": ["z", "b"]}), &groups));
    assert!(!c.eval(&json!({"id": "c"}), &groups));
    assert!(!c.eval(&json!({"id": "a"}), &SavedGroups::new()));
}
