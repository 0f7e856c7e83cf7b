//! `GET /openapi.json`: an OpenAPI 3.1 document of every route.

use axum::Json;
use serde_json::{Map, Value, json};

use super::all_routes;

pub async fn document() -> Json<Value> {
    Json(build())
}

pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, summary) in all_routes() {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "operationId": format!("{method}{}", path.replace(['/', '{', '}', '.'], "_")),
            "responses": {
                "200": {"description": "OK"},
                "202": {"description": "Accepted"},
                "401": {"description": "Credentials not recognised"},
                "403": {"description": "Credentials not allowed here"},
                "404": {"description": "Not found"},
                "422": {"description": "Invalid parameters", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
            }
        });
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if matches!(*method, "post" | "delete") {
            op["requestBody"] = json!({"required": false, "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}}
            }});
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("object")
            .insert(method.to_string(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Convene", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Open-source scheduling platform speaking Cronofy's wire contract."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Errors": {"type": "object", "properties": {"errors": {"type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "object",
                    "properties": {"key": {"type": "string"}, "description": {"type": "string"},
                                   "cronofy_dashboard_url": {"type": "string"}},
                    "required": ["key", "description"]}}}}}}
        },
        "security": [{"bearer": []}],
        "paths": paths
    })
}
