//! The template editor: the form, its mapping to the API shape, and saving.

#[allow(unused_imports)]
use super::*;

/// What the editor's inputs hold, as typed (so a rejected form comes back
/// exactly as it was sent).
#[derive(Clone, Debug, Default)]
pub(super) struct EditorForm {
    name: String,
    host_kind: String,
    host: String,
    host_group: GroupForm,
    groups: Vec<GroupForm>,
    summary: String,
    description: String,
    location: String,
    duration: String,
    before: String,
    after: String,
    start_interval: String,
    minimum_notice: String,
    tzid: String,
    window_kind: String,
    days: String,
    periods: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct GroupForm {
    name: String,
    required: String,
    members: Vec<String>,
    remove: bool,
}

impl GroupForm {
    fn from_json(g: &Value) -> Self {
        GroupForm {
            name: fstr(g, "name").to_string(),
            required: match &g["required"] {
                Value::Number(n) => n.to_string(),
                _ => "all".into(),
            },
            members: g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["sub"].as_str().map(str::to_string))
                .collect(),
            remove: false,
        }
    }

    fn from_form(g: &Value) -> Self {
        let members = match g.get("members") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        };
        GroupForm {
            name: fstr(g, "name").trim().to_string(),
            required: match fstr(g, "required").trim() {
                "" => "all".into(),
                r => r.to_string(),
            },
            members,
            remove: fstr(g, "remove") == "true",
        }
    }

    fn is_blank(&self) -> bool {
        self.name.is_empty() && self.members.is_empty()
    }

    fn body(&self) -> Value {
        let mut g = json!({
            "members": self.members.iter().map(|s| json!({"sub": s})).collect::<Vec<_>>(),
            "required": self.required,
        });
        if !self.name.is_empty() {
            g["name"] = json!(self.name);
        }
        g
    }
}

pub(super) fn mins_text(v: &Value) -> String {
    minutes(v).map(|m| m.to_string()).unwrap_or_default()
}

/// A stored UTC Time as the `datetime-local` value in the template's zone.
pub(super) fn local_input(t: &str, zone: &TimeZone) -> String {
    match parse_time(t) {
        Some(ts) => ts
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string(),
        None => t.to_string(),
    }
}

/// A `datetime-local` value (in the template's zone) as a UTC Time; text
/// that is neither passes through for `normalize` to reject by name.
pub(super) fn utc_time(local: &str, zone: &TimeZone) -> String {
    let local = local.trim();
    if let Some(t) = parse_time(local).filter(|_| local.ends_with('Z') || local.contains('+')) {
        return fmt_time(t);
    }
    match local
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(zone.clone()).ok())
    {
        Some(z) => fmt_time(z.timestamp()),
        None => local.to_string(),
    }
}

impl EditorForm {
    fn blank() -> Self {
        EditorForm {
            host_kind: "host".into(),
            host_group: GroupForm {
                required: "1".into(),
                ..GroupForm::default()
            },
            duration: "30".into(),
            tzid: "Etc/UTC".into(),
            window_kind: "days".into(),
            days: crate::domain::templates::DEFAULT_WINDOW_DAYS.to_string(),
            ..EditorForm::default()
        }
    }

    fn from_json(v: &Value) -> Self {
        let tzid = v["tzid"].as_str().unwrap_or("Etc/UTC").to_string();
        let zone = tz(&tzid).unwrap_or(TimeZone::UTC);
        let (host_kind, host, host_group) = if let Some(h) = v["host"]["sub"].as_str() {
            ("host", h.to_string(), GroupForm::default())
        } else if v.get("host_group").is_some_and(Value::is_object) {
            (
                "host_group",
                String::new(),
                GroupForm::from_json(&v["host_group"]),
            )
        } else {
            ("none", String::new(), GroupForm::default())
        };
        let mode = &v["availability_mode"];
        let (window_kind, days, periods) = match mode.get("query_periods").and_then(Value::as_array)
        {
            Some(ps) => (
                "periods",
                crate::domain::templates::DEFAULT_WINDOW_DAYS.to_string(),
                ps.iter()
                    .map(|p| {
                        (
                            local_input(fstr(p, "start"), &zone),
                            local_input(fstr(p, "end"), &zone),
                        )
                    })
                    .collect(),
            ),
            None => (
                "days",
                mode["days"]
                    .as_i64()
                    .unwrap_or(crate::domain::templates::DEFAULT_WINDOW_DAYS)
                    .to_string(),
                Vec::new(),
            ),
        };
        EditorForm {
            name: fstr(v, "name").to_string(),
            host_kind: host_kind.into(),
            host,
            host_group,
            groups: v["collaborator_groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(GroupForm::from_json)
                .collect(),
            summary: fstr(&v["event"], "summary").to_string(),
            description: fstr(&v["event"], "description").to_string(),
            location: fstr(&v["event"]["location"], "description").to_string(),
            duration: mins_text(&v["duration"]),
            before: mins_text(&v["buffer"]["before"]),
            after: mins_text(&v["buffer"]["after"]),
            start_interval: mins_text(&v["start_interval"]),
            minimum_notice: mins_text(&v["minimum_notice"]),
            tzid,
            window_kind: window_kind.into(),
            days,
            periods,
        }
    }

    fn from_form(f: &Value) -> Self {
        let text = |k: &str| fstr(f, k).trim().to_string();
        // `a[0][b]` arrives as `{"0": {…}}`; keep the submitted order.
        let indexed = |k: &str| -> Vec<Value> {
            match f.get(k) {
                Some(Value::Object(m)) => {
                    let mut kv: Vec<(usize, &Value)> = m
                        .iter()
                        .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
                        .collect();
                    kv.sort_by_key(|(i, _)| *i);
                    kv.into_iter().map(|(_, v)| v.clone()).collect()
                }
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            }
        };
        let host_kind = match fstr(f, "host_kind") {
            k @ ("host" | "host_group" | "none") => k.to_string(),
            _ => "host".into(),
        };
        let window_kind = match fstr(f, "window_kind") {
            "periods" => "periods",
            _ => "days",
        };
        EditorForm {
            name: text("name"),
            host_kind,
            host: text("host"),
            host_group: GroupForm::from_form(f.get("host_group").unwrap_or(&Value::Null)),
            groups: indexed("groups").iter().map(GroupForm::from_form).collect(),
            summary: text("summary"),
            description: fstr(f, "description").to_string(),
            location: text("location"),
            duration: text("duration"),
            before: text("before"),
            after: text("after"),
            start_interval: text("start_interval"),
            minimum_notice: text("minimum_notice"),
            tzid: text("tzid"),
            window_kind: window_kind.into(),
            days: text("days"),
            periods: indexed("periods")
                .iter()
                .map(|p| {
                    (
                        fstr(p, "start").trim().to_string(),
                        fstr(p, "end").trim().to_string(),
                    )
                })
                .collect(),
        }
    }

    /// The template body the API would take, with where each collaborator
    /// group and period came from in the form (blank and removed rows are
    /// left out, so the indexes differ).
    fn body(&self) -> (Value, Vec<usize>, Vec<usize>) {
        let mut b = Map::new();
        b.insert("name".into(), json!(self.name));
        match self.host_kind.as_str() {
            "host" if !self.host.is_empty() => {
                b.insert("host".into(), json!({"sub": self.host}));
            }
            "host_group" => {
                b.insert("host_group".into(), self.host_group.body());
            }
            _ => {}
        }
        let mut group_map = Vec::new();
        let mut groups = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            if g.remove || g.is_blank() {
                continue;
            }
            group_map.push(i);
            groups.push(g.body());
        }
        b.insert("collaborator_groups".into(), Value::Array(groups));
        let mut event = Map::new();
        if !self.summary.is_empty() {
            event.insert("summary".into(), json!(self.summary));
        }
        if !self.description.trim().is_empty() {
            event.insert("description".into(), json!(self.description));
        }
        if !self.location.is_empty() {
            event.insert("location".into(), json!({"description": self.location}));
        }
        b.insert("event".into(), Value::Object(event));
        let num = |s: &str| -> Option<Value> { (!s.is_empty()).then(|| json!(s)) };
        if let Some(d) = num(&self.duration) {
            b.insert("duration".into(), d);
        }
        let mut buffer = Map::new();
        for (k, v) in [("before", &self.before), ("after", &self.after)] {
            if let Some(d) = num(v) {
                buffer.insert(k.into(), d);
            }
        }
        if !buffer.is_empty() {
            b.insert("buffer".into(), Value::Object(buffer));
        }
        for (k, v) in [
            ("start_interval", &self.start_interval),
            ("minimum_notice", &self.minimum_notice),
        ] {
            if let Some(d) = num(v) {
                b.insert(k.into(), d);
            }
        }
        if !self.tzid.is_empty() {
            b.insert("tzid".into(), json!(self.tzid));
        }
        let zone = tz(&self.tzid).unwrap_or(TimeZone::UTC);
        let mut period_map = Vec::new();
        if self.window_kind == "periods" {
            let mut ps = Vec::new();
            for (i, (s, e)) in self.periods.iter().enumerate() {
                if s.is_empty() && e.is_empty() {
                    continue;
                }
                period_map.push(i);
                let mut p = Map::new();
                if !s.is_empty() {
                    p.insert("start".into(), json!(utc_time(s, &zone)));
                }
                if !e.is_empty() {
                    p.insert("end".into(), json!(utc_time(e, &zone)));
                }
                ps.push(Value::Object(p));
            }
            b.insert("availability_mode".into(), json!({ "query_periods": ps }));
        } else if let Some(d) = num(&self.days) {
            b.insert("availability_mode".into(), json!({ "days": d }));
        }
        (Value::Object(b), group_map, period_map)
    }
}

/// Where an API field path shows up in the editor.
pub(super) fn form_key(path: &str, group_map: &[usize], period_map: &[usize]) -> String {
    let indexed = |rest: &str, map: &[usize], prefix: &str| -> Option<String> {
        let inner = rest.strip_prefix('[')?;
        let (n, _) = inner.split_once(']')?;
        let i: usize = n.parse().ok()?;
        Some(format!("{prefix}[{}]", map.get(i).copied().unwrap_or(i)))
    };
    let first = path.split(['.', '[']).next().unwrap_or(path);
    match first {
        "collaborator_groups" => indexed(&path["collaborator_groups".len()..], group_map, "groups")
            .unwrap_or_else(|| "groups".into()),
        "host_group" => "host_group".into(),
        "host" => "host".into(),
        "event" => match path {
            "event.duration" => "duration".into(),
            p if p.starts_with("event.location") => "location".into(),
            p => p.trim_start_matches("event.").to_string(),
        },
        "buffer" => path.trim_start_matches("buffer.").to_string(),
        "availability_mode" => match path.strip_prefix("availability_mode.query_periods") {
            Some(rest) => indexed(rest, period_map, "periods").unwrap_or_else(|| "periods".into()),
            None => "days".into(),
        },
        other => other.to_string(),
    }
}

pub(super) struct Opt {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) struct MemberBox {
    sub: String,
    label: String,
    /// The email, shown under the name.
    detail: String,
    checked: bool,
    known: bool,
}

pub(super) struct GroupView {
    id: String,
    prefix: String,
    legend: String,
    name: String,
    required_options: Vec<Opt>,
    members: Vec<MemberBox>,
    removable: bool,
    error: String,
}

pub(super) struct PeriodView {
    index: usize,
    start: String,
    end: String,
    error: String,
}

pub(super) struct ErrView {
    key: String,
    field: String,
    description: String,
}

pub(super) struct ProblemView {
    key: String,
    description: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/editor.html")]
pub(super) struct EditorPage {
    chrome: Chrome,
    title: String,
    is_new: bool,
    sub: String,
    action: String,
    saved: bool,
    f: EditorForm,
    host_options: Vec<Opt>,
    host_group: GroupView,
    groups: Vec<GroupView>,
    tz_options: Vec<Opt>,
    periods: Vec<PeriodView>,
    errors: Vec<ErrView>,
    problems: Option<Vec<ProblemView>>,
}

impl EditorPage {
    fn has_err(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }

    fn err(&self, key: &str) -> String {
        self.errors
            .iter()
            .filter(|e| e.key == key)
            .map(|e| e.description.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(super) fn group_view(
    g: &GroupForm,
    id: &str,
    prefix: &str,
    legend: &str,
    accounts: &[Account],
    removable: bool,
    error: String,
) -> GroupView {
    let mut members: Vec<MemberBox> = accounts
        .iter()
        .map(|a| MemberBox {
            sub: a.id.clone(),
            label: a.name.clone(),
            detail: if a.email == a.name {
                String::new()
            } else {
                a.email.clone()
            },
            checked: g.members.contains(&a.id),
            known: true,
        })
        .collect();
    // Members that are not accounts of this unit stay visible (and
    // checked) so the admin sees what the "not recognized" problem is about.
    for m in &g.members {
        if !accounts.iter().any(|a| &a.id == m) {
            members.push(MemberBox {
                sub: m.clone(),
                label: m.clone(),
                detail: String::new(),
                checked: true,
                known: false,
            });
        }
    }
    let current: Option<usize> = g.required.parse().ok();
    let top = accounts
        .len()
        .max(current.unwrap_or(0))
        .max(g.members.len())
        .max(1);
    let mut required_options = vec![Opt {
        value: "all".into(),
        label: "All members".into(),
        selected: current.is_none(),
    }];
    required_options.extend((1..=top).map(|n| Opt {
        value: n.to_string(),
        label: format!("Any {n}"),
        selected: current == Some(n),
    }));
    GroupView {
        id: id.into(),
        prefix: prefix.into(),
        legend: legend.into(),
        name: g.name.clone(),
        required_options,
        members,
        removable,
        error,
    }
}

pub(super) struct EditorInput<'a> {
    sub: Option<&'a str>,
    form: EditorForm,
    errors: Vec<FieldError>,
    group_map: Vec<usize>,
    period_map: Vec<usize>,
    saved: bool,
    problems: Option<Vec<FieldError>>,
}

pub(super) async fn editor(
    state: &AppState,
    s: &Signed,
    status: StatusCode,
    input: EditorInput<'_>,
) -> Response {
    let accounts = match account_names(state, &s.admin.organizational_unit_id).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let f = input.form;
    let errors: Vec<ErrView> = input
        .errors
        .iter()
        .map(|e| ErrView {
            key: form_key(&e.field, &input.group_map, &input.period_map),
            field: e.field.clone(),
            description: e.description.clone(),
        })
        .collect();
    let errs_for = |k: &str| errors_for(&errors, k);
    let host_group = group_view(
        &f.host_group,
        "hg",
        "host_group",
        "Host group",
        &accounts,
        false,
        errs_for("host_group"),
    );
    let (title, action) = match input.sub {
        Some(sub) => (
            if f.name.is_empty() {
                "Template".to_string()
            } else {
                f.name.clone()
            },
            format!("/dashboard/templates/{sub}"),
        ),
        None => (
            "New template".to_string(),
            "/dashboard/templates".to_string(),
        ),
    };
    let problems = input.problems.map(|ps| {
        ps.into_iter()
            .map(|p| ProblemView {
                key: p.key,
                description: p.description,
            })
            .collect()
    });
    html(
        status,
        &EditorPage {
            chrome: chrome(s, "templates"),
            title,
            is_new: input.sub.is_none(),
            sub: input.sub.unwrap_or_default().to_string(),
            action,
            saved: input.saved,
            host_options: host_options(&f.host, &accounts),
            host_group,
            groups: group_views(&f.groups, &accounts, &errs_for),
            tz_options: zone_options(&f.tzid),
            periods: period_views(&f.periods, &errs_for),
            f,
            errors,
            problems,
        },
    )
}

/// The problems the API reported on one editor field (or its parts).
fn errors_for(errors: &[ErrView], k: &str) -> String {
    errors
        .iter()
        .filter(|e| e.key == k || e.key.starts_with(&format!("{k}[")))
        .map(|e| e.description.clone())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The unit's accounts as host choices, keeping a host that is not (or no
/// longer) one of them visible rather than silently dropping it.
fn host_options(host: &str, accounts: &[Account]) -> Vec<Opt> {
    let mut options: Vec<Opt> = accounts
        .iter()
        .map(|a| Opt {
            value: a.id.clone(),
            label: account_label(a),
            selected: a.id == host,
        })
        .collect();
    if !host.is_empty() && !accounts.iter().any(|a| a.id == host) {
        options.push(Opt {
            value: host.to_string(),
            label: format!("{host} (not recognized)"),
            selected: true,
        });
    }
    options
}

/// The collaborator groups, plus one spare so a group can be added without
/// JavaScript.
fn group_views(
    groups: &[GroupForm],
    accounts: &[Account],
    errs_for: &dyn Fn(&str) -> String,
) -> Vec<GroupView> {
    let mut views: Vec<GroupView> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| !g.is_blank() || g.remove)
        .map(|(i, g)| {
            let label = if g.name.is_empty() {
                format!("Collaborator group {}", i + 1)
            } else {
                format!("Collaborator group: {}", g.name)
            };
            group_view(
                g,
                &format!("g{i}"),
                &format!("groups[{i}]"),
                &label,
                accounts,
                true,
                errs_for(&format!("groups[{i}]")),
            )
        })
        .collect();
    let spare = groups.len();
    views.push(group_view(
        &GroupForm {
            required: "1".into(),
            ..GroupForm::default()
        },
        &format!("g{spare}"),
        &format!("groups[{spare}]"),
        "Add a collaborator group",
        accounts,
        false,
        String::new(),
    ));
    views
}

/// The offered zones, with the template's own first when it is not one of
/// them.
fn zone_options(tzid: &str) -> Vec<Opt> {
    let mut options: Vec<Opt> = ZONES
        .iter()
        .map(|z| Opt {
            value: z.to_string(),
            label: z.replace('_', " "),
            selected: *z == tzid,
        })
        .collect();
    if !tzid.is_empty() && !ZONES.contains(&tzid) {
        options.insert(
            0,
            Opt {
                value: tzid.to_string(),
                label: tzid.to_string(),
                selected: true,
            },
        );
    }
    options
}

/// The query periods, plus an empty row to add one.
fn period_views(
    periods: &[(String, String)],
    errs_for: &dyn Fn(&str) -> String,
) -> Vec<PeriodView> {
    let mut views: Vec<PeriodView> = periods
        .iter()
        .enumerate()
        .map(|(i, (s, e))| PeriodView {
            index: i,
            start: s.clone(),
            end: e.clone(),
            error: errs_for(&format!("periods[{i}]")),
        })
        .collect();
    views.push(PeriodView {
        index: views.len(),
        start: String::new(),
        end: String::new(),
        error: String::new(),
    });
    views
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
pub(super) async fn new_template(State(state): State<AppState>, s: Signed) -> Response {
    let input = EditorInput {
        sub: None,
        form: EditorForm::blank(),
        errors: Vec::new(),
        group_map: Vec::new(),
        period_map: Vec::new(),
        saved: false,
        problems: None,
    };
    editor(&state, &s, StatusCode::OK, input).await
}

pub(super) async fn owned_template(
    state: &AppState,
    s: &Signed,
    sub: &str,
) -> Result<Option<Template>, ApiError> {
    Ok(state
        .db
        .template(&s.admin.organizational_unit_id, sub)
        .await?
        .filter(|t| !t.deleted))
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, template = %sub))]
pub(super) async fn edit_template(
    State(state): State<AppState>,
    s: Signed,
    Path(sub): Path<String>,
    QueryInput(q): QueryInput,
) -> Response {
    let t = match owned_template(&state, &s, &sub).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(&s, "template", "/dashboard/templates"),
        Err(e) => return failed(e),
    };
    let body = body_of(&t);
    let problems =
        match template_problems(&state, &s.admin.organizational_unit_id, &t.id, &body).await {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
    let input = EditorInput {
        sub: Some(&sub),
        form: EditorForm::from_json(&body),
        errors: Vec::new(),
        group_map: Vec::new(),
        period_map: Vec::new(),
        saved: fstr(&q, "saved") == "1",
        problems: Some(problems),
    };
    editor(&state, &s, StatusCode::OK, input).await
}

/// Validates the form as the API validates a template body; a rejected
/// form is shown again with its problems (422), an accepted one is stored.
pub(super) async fn store_template(
    state: &AppState,
    s: &Signed,
    existing: Option<Template>,
    form: &Value,
) -> Response {
    let f = EditorForm::from_form(form);
    let (mut body, group_map, period_map) = f.body();
    // The editor has no fields for the template's extra recipients or for
    // mailing the recipient their link: keep what the API set rather than
    // dropping it on save.
    let stored = existing
        .as_ref()
        .and_then(|t| serde_json::from_str::<Value>(&t.body_json).ok());
    for key in ["recipients", "email_recipient"] {
        if let Some(v) = stored
            .as_ref()
            .and_then(|b| b.get(key).cloned())
            .filter(|r| !r.is_null())
        {
            body[key] = v;
        }
    }
    let sub = existing.as_ref().map(|t| t.id.clone());
    let norm = match normalize(&body) {
        Ok(n) => n,
        Err(ApiError::Invalid(errors)) => {
            let input = EditorInput {
                sub: sub.as_deref(),
                form: f,
                errors,
                group_map,
                period_map,
                saved: false,
                problems: None,
            };
            return editor(state, s, StatusCode::UNPROCESSABLE_ENTITY, input).await;
        }
        Err(e) => return failed(e),
    };
    let now = state.now_ms();
    let t = match existing {
        Some(mut t) => {
            t.name = norm["name"].as_str().unwrap_or_default().to_string();
            t.body_json = norm.to_string();
            t.updated_ms = now;
            t
        }
        None => Template {
            id: new_id("sgr"),
            organizational_unit_id: s.admin.organizational_unit_id.clone(),
            name: norm["name"].as_str().unwrap_or_default().to_string(),
            body_json: norm.to_string(),
            deleted: false,
            created_ms: now,
            updated_ms: now,
        },
    };
    if let Err(e) = state.db.upsert_template(&t).await {
        return failed(e);
    }
    tracing::info!(template = %t.id, "template saved from the dashboard");
    see_other(&format!("/dashboard/templates/{}?saved=1", t.id))
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
pub(super) async fn create_template(
    State(state): State<AppState>,
    s: Signed,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, "/dashboard/templates/new");
    }
    store_template(&state, &s, None, &form).await
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, template = %sub))]
pub(super) async fn save_template(
    State(state): State<AppState>,
    s: Signed,
    Path(sub): Path<String>,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, &format!("/dashboard/templates/{sub}"));
    }
    match owned_template(&state, &s, &sub).await {
        Ok(Some(t)) => store_template(&state, &s, Some(t), &form).await,
        Ok(None) => not_found(&s, "template", "/dashboard/templates"),
        Err(e) => failed(e),
    }
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, template = %sub))]
pub(super) async fn delete_template(
    State(state): State<AppState>,
    s: Signed,
    Path(sub): Path<String>,
    Body(form): Body,
) -> Response {
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, &format!("/dashboard/templates/{sub}"));
    }
    let mut t = match owned_template(&state, &s, &sub).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(&s, "template", "/dashboard/templates"),
        Err(e) => return failed(e),
    };
    t.deleted = true;
    t.updated_ms = state.now_ms();
    if let Err(e) = state.db.upsert_template(&t).await {
        return failed(e);
    }
    see_other("/dashboard/templates?deleted=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_map_to_editor_fields() {
        assert_eq!(
            form_key("collaborator_groups[1].required", &[0, 3], &[]),
            "groups[3]"
        );
        assert_eq!(
            form_key("availability_mode.query_periods[0].end", &[], &[2]),
            "periods[2]"
        );
        assert_eq!(form_key("availability_mode.days", &[], &[]), "days");
        assert_eq!(form_key("event.duration", &[], &[]), "duration");
        assert_eq!(form_key("buffer.before", &[], &[]), "before");
        assert_eq!(form_key("host.sub", &[], &[]), "host");
        assert_eq!(form_key("name", &[], &[]), "name");
    }

    #[test]
    fn forms_round_trip_through_the_api_shape() {
        let form = json!({
            "name": "Intro", "host_kind": "host", "host": "acc_1",
            "groups": {"0": {"name": "Pool", "members": ["acc_2", "acc_3"], "required": "1"}, "1": {"name": "", "required": "1"}},
            "summary": "Hi", "duration": "45", "before": "5", "tzid": "Europe/London",
            "window_kind": "periods", "periods": {"0": {"start": "2030-07-01T09:00", "end": "2030-07-01T17:00"}}
        });
        let f = EditorForm::from_form(&form);
        let (body, gm, pm) = f.body();
        assert_eq!(gm, vec![0]);
        assert_eq!(pm, vec![0]);
        let norm = normalize(&body).unwrap();
        assert_eq!(norm["collaborator_groups"][0]["required"], json!(1));
        // 09:00 in London in July is 08:00 UTC.
        assert_eq!(
            norm["availability_mode"]["query_periods"][0]["start"],
            json!("2030-07-01T08:00:00Z")
        );
        let back = EditorForm::from_json(&norm);
        assert_eq!(back.periods[0].0, "2030-07-01T09:00");
        assert_eq!(back.groups[0].members, vec!["acc_2", "acc_3"]);
        assert_eq!(back.duration, "45");
        assert_eq!(back.before, "5");
    }
}
