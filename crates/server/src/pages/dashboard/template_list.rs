//! The templates list.

#[allow(unused_imports)]
use super::*;

pub(super) struct TemplateRow {
    sub: String,
    name: String,
    url: String,
    people: String,
    duration: String,
    problems: usize,
}

#[derive(askama::Template)]
#[template(path = "dashboard/templates.html")]
pub(super) struct TemplatesPage {
    chrome: Chrome,
    rows: Vec<TemplateRow>,
    message: Option<String>,
}

pub(super) fn body_of(t: &Template) -> Value {
    serde_json::from_str(&t.body_json).unwrap_or_else(|_| json!({}))
}

pub(super) fn minutes(v: &Value) -> Option<i64> {
    v.get("minutes").and_then(Value::as_i64)
}

pub(super) fn people_summary(v: &Value, names: &HashMap<String, String>) -> String {
    let name = |s: &str| names.get(s).cloned().unwrap_or_else(|| s.to_string());
    let mut parts = Vec::new();
    if let Some(h) = v.get("host").and_then(|h| h["sub"].as_str()) {
        parts.push(format!("Host {}", name(h)));
    } else if let Some(g) = v.get("host_group") {
        parts.push(format!("Host group: {}", group_rule(g)));
    }
    for g in v["collaborator_groups"].as_array().into_iter().flatten() {
        let label = g["name"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("Group");
        parts.push(format!("{label}: {}", group_rule(g)));
    }
    if parts.is_empty() {
        "No host".into()
    } else {
        parts.join(" · ")
    }
}

pub(super) fn group_rule(g: &Value) -> String {
    let n = g["members"].as_array().map_or(0, Vec::len);
    match g["required"].as_u64() {
        Some(k) => format!("{k} of {n}"),
        None => format!("all {n}"),
    }
}

pub(super) async fn account_names(state: &AppState, ou: &str) -> Result<Vec<Account>, ApiError> {
    Ok(state.db.unit_accounts(ou, 500).await?)
}

pub(super) fn account_label(a: &Account) -> String {
    if a.email.is_empty() || a.email == a.name {
        a.name.clone()
    } else {
        format!("{} ({})", a.name, a.email)
    }
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
pub(super) async fn templates(
    State(state): State<AppState>,
    s: Signed,
    QueryInput(q): QueryInput,
) -> Response {
    let ou = s.admin.organizational_unit_id.clone();
    let list = match state.db.templates(&ou).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let accounts = match account_names(&state, &ou).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let names: HashMap<String, String> = accounts
        .iter()
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect();
    let mut rows = Vec::new();
    for t in list.iter().take(500) {
        let body = body_of(t);
        let problems = match template_problems(&state, &ou, &t.id, &body).await {
            Ok(p) => p.len(),
            Err(e) => return failed(e),
        };
        rows.push(TemplateRow {
            sub: t.id.clone(),
            name: t.name.clone(),
            url: format!("/dashboard/templates/{}", t.id),
            people: people_summary(&body, &names),
            duration: format!("{} min", minutes(&body["duration"]).unwrap_or(30)),
            problems,
        });
    }
    let message = (fstr(&q, "deleted") == "1").then(|| "Template deleted.".to_string());
    html(
        StatusCode::OK,
        &TemplatesPage {
            chrome: chrome(&s, "templates"),
            rows,
            message,
        },
    )
}
