//! Scheduling requests: the list and the page behind each request's `dashboard_url`.

#[allow(unused_imports)]
use super::*;

pub(super) const STATES: &[(&str, &str)] = &[
    ("pending", "Waiting for the recipient"),
    ("pending_rescheduling", "Rescheduling"),
    ("complete", "Complete"),
    ("cancelled", "Cancelled"),
    ("expired", "Expired"),
];

pub(super) fn state_label(s: &str) -> String {
    STATES
        .iter()
        .find(|(k, _)| *k == s)
        .map_or_else(|| s.to_string(), |(_, l)| l.to_string())
}

pub(super) fn when(ms: i64, zone: &TimeZone, fmt: &str) -> String {
    from_ms(ms).to_zoned(zone.clone()).strftime(fmt).to_string()
}

pub(super) fn utc_label(ms: i64) -> String {
    when(ms, &TimeZone::UTC, "%Y-%m-%d %H:%M UTC")
}

/// `Tuesday 7 January 2030, 09:00–09:30 (Europe/London)`.
pub(super) fn booked_label(start_ms: i64, end_ms: i64, tzid: &str) -> String {
    let zone = tz(tzid).unwrap_or(TimeZone::UTC);
    format!(
        "{}–{} ({tzid})",
        when(start_ms, &zone, "%A %-d %B %Y, %H:%M"),
        when(end_ms, &zone, "%H:%M")
    )
}

pub(super) struct RequestRow {
    id: String,
    url: String,
    created: String,
    summary: String,
    recipient: String,
    state: String,
    state_label: String,
    booked: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/requests.html")]
pub(super) struct RequestsPage {
    chrome: Chrome,
    filters: Vec<Opt>,
    filter_label: String,
    rows: Vec<RequestRow>,
    truncated: bool,
}

pub(super) const LIST_LIMIT: i64 = 200;

pub(super) fn recipient_of(spec: &crate::domain::requests::RequestSpec) -> String {
    spec.recipients
        .iter()
        .map(|r| match &r.display_name {
            Some(n) if !n.is_empty() => format!("{n} <{}>", r.email),
            _ => r.email.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id))]
pub(super) async fn requests(
    State(state): State<AppState>,
    s: Signed,
    QueryInput(q): QueryInput,
) -> Response {
    // Unknown states are treated as no filter rather than an error page.
    let filter = STATES
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == fstr(&q, "state"));
    let list = match state
        .db
        .requests(&s.admin.organizational_unit_id, filter, LIST_LIMIT)
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let rows = list
        .iter()
        .map(|r| {
            let (summary, recipient, booked) = match spec_of(r) {
                Ok(spec) => (
                    spec.summary.clone(),
                    recipient_of(&spec),
                    booking_of(r)
                        .filter(|_| matches!(r.state.as_str(), "complete" | "pending_rescheduling"))
                        .map(|b| booked_label(b.start_ms, b.end_ms, &spec.tzid))
                        .unwrap_or_default(),
                ),
                Err(_) => (r.id.clone(), String::new(), String::new()),
            };
            RequestRow {
                id: r.id.clone(),
                url: format!("/dashboard/requests/{}", r.id),
                created: utc_label(r.created_ms),
                summary: if summary.is_empty() {
                    r.id.clone()
                } else {
                    summary
                },
                recipient,
                state: r.state.as_str().to_string(),
                state_label: state_label(r.state.as_str()),
                booked,
            }
        })
        .collect::<Vec<_>>();
    let mut filters = vec![Opt {
        value: "/dashboard/requests".into(),
        label: "All".into(),
        selected: filter.is_none(),
    }];
    filters.extend(STATES.iter().map(|(k, l)| Opt {
        value: format!("/dashboard/requests?state={k}"),
        label: l.to_string(),
        selected: filter == Some(*k),
    }));
    html(
        StatusCode::OK,
        &RequestsPage {
            chrome: chrome(&s, "requests"),
            filters,
            filter_label: filter.map(state_label).unwrap_or_default(),
            truncated: rows.len() as i64 >= LIST_LIMIT,
            rows,
        },
    )
}

pub(super) struct HistoryView {
    at: String,
    state: String,
    note: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard/request.html")]
pub(super) struct RequestPage {
    chrome: Chrome,
    id: String,
    summary: String,
    state: String,
    state_label: String,
    message: Option<String>,
    recipient: String,
    duration: String,
    location: Option<String>,
    hosts: String,
    groups: Vec<(String, String)>,
    template: Option<(String, String)>,
    created: String,
    select_url: String,
    booked: Option<String>,
    booked_members: String,
    history: Vec<HistoryView>,
    cancellable: bool,
}

pub(super) async fn owned_request(
    state: &AppState,
    s: &Signed,
    id: &str,
) -> Result<Option<Request>, ApiError> {
    match state.db.request(id).await? {
        Some(r) if r.organizational_unit_id == s.admin.organizational_unit_id => {
            Ok(Some(refresh(state, r).await?))
        }
        _ => Ok(None),
    }
}

pub(super) async fn show_request(
    state: &AppState,
    s: &Signed,
    r: &Request,
    message: Option<String>,
) -> Result<Response, ApiError> {
    let spec = spec_of(r)?;
    let zone = tz(&spec.tzid).unwrap_or(TimeZone::UTC);
    let booking =
        booking_of(r).filter(|_| matches!(r.state.as_str(), "complete" | "pending_rescheduling"));
    let mut everyone = spec.members();
    if let Some(b) = &booking {
        everyone.extend(b.members.iter().cloned());
    }
    let names: HashMap<String, String> = state
        .db
        .accounts(&everyone)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let name = |m: &String| names.get(m).cloned().unwrap_or_else(|| m.clone());
    let list = |ms: &[String]| ms.iter().map(name).collect::<Vec<_>>().join(", ");
    let rule = |g: &crate::domain::requests::GroupDef| match g.required {
        Some(n) => format!("any {n} of {}", list(&g.members)),
        None => list(&g.members),
    };
    let hosts = if spec.host_kind == "host" {
        list(&spec.host.members)
    } else {
        format!("Host group: {}", rule(&spec.host))
    };
    let groups = spec
        .collaborator_groups
        .iter()
        .map(|g| {
            (
                g.name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "Collaborators".into()),
                rule(g),
            )
        })
        .collect();
    let template = match &r.template_id {
        Some(t) => {
            let name = state
                .db
                .template(&r.organizational_unit_id, t)
                .await?
                .filter(|t| !t.deleted)
                .map_or_else(|| format!("{t} (deleted)"), |t| t.name);
            Some((name, format!("/dashboard/templates/{t}")))
        }
        None => None,
    };
    let history = history_of(r)
        .into_iter()
        .map(|h| HistoryView {
            at: format!(
                "{} · {}",
                when(h.at_ms, &zone, "%a %-d %b %Y %H:%M"),
                spec.tzid
            ),
            state: state_label(&h.state),
            note: h.note,
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &RequestPage {
            chrome: chrome(s, "requests"),
            id: r.id.clone(),
            summary: spec.summary.clone(),
            state: r.state.as_str().to_string(),
            state_label: state_label(r.state.as_str()),
            message,
            recipient: recipient_of(&spec),
            duration: format!("{} minutes", spec.duration_min),
            location: spec.location.clone(),
            hosts,
            groups,
            template,
            created: utc_label(r.created_ms),
            select_url: select_url(state, r),
            booked: booking
                .as_ref()
                .map(|b| booked_label(b.start_ms, b.end_ms, &spec.tzid)),
            booked_members: booking
                .as_ref()
                .map(|b| list(&b.members))
                .unwrap_or_default(),
            history,
            cancellable: matches!(
                r.state.as_str(),
                "pending" | "pending_rescheduling" | "complete"
            ),
        },
    ))
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, request = %id))]
pub(super) async fn request_page(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    QueryInput(q): QueryInput,
) -> Response {
    let r = match owned_request(&state, &s, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&s, "scheduling request", "/dashboard/requests"),
        Err(e) => return failed(e),
    };
    let message = (fstr(&q, "cancelled") == "1").then(|| "Request cancelled.".to_string());
    show_request(&state, &s, &r, message)
        .await
        .unwrap_or_else(failed)
}

#[tracing::instrument(skip_all, fields(admin = %s.admin.id, request = %id))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Body(form): Body,
) -> Response {
    let back = format!("/dashboard/requests/{id}");
    if !s.csrf_ok(&form) {
        return csrf_failed(&s, &back);
    }
    let r = match owned_request(&state, &s, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&s, "scheduling request", "/dashboard/requests"),
        Err(e) => return failed(e),
    };
    if !matches!(
        r.state.as_str(),
        "pending" | "pending_rescheduling" | "complete"
    ) {
        // Already over: show it as it is rather than an error.
        return see_other(&back);
    }
    let note = format!("cancelled in the dashboard by {}", s.admin.email);
    match cancel_request(&state, &r, &note, "scheduling_request_cancelled").await {
        Ok(_) => see_other(&format!("{back}?cancelled=1")),
        // The recipient acted meanwhile: the page shows what happened.
        Err(ApiError::Invalid(_)) => see_other(&back),
        Err(e) => failed(e),
    }
}
