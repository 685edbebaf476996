"""A Stripe contract server on 127.0.0.1 for what localstripe does not emulate or check.

Every request is checked against the rules of Stripe's API reference we rely on; a request that breaks one
is answered like Stripe answers an invalid request (400, `invalid_request_error`) and kept in `violations`:

- `Stripe-Version` on every request, equal to the version the test pins (docs.stripe.com/api/versioning);
- `Authorization: Bearer sk_…` (docs.stripe.com/api/authentication);
- `Idempotency-Key` on every POST, at most 255 characters (docs.stripe.com/api/idempotent_requests);
- no raw card data in any request: no `card[number]`/`card[cvc]` parameter and no value that looks like a
  card number (docs.stripe.com/security/guide: raw card data needs PCI SAQ D and Stripe's approval);
- POST /v1/payment_intents: `amount` > 0 and a lowercase three-letter `currency` (required by the create
  call); `customer` (our rule: a saved PaymentMethod can only be reused on the Customer it is attached to,
  docs.stripe.com/payments/save-and-reuse); `off_session` only with `confirm=true`
  (api/payment_intents/create#off_session); a confirmed intent with a saved method is off-session or has a
  `return_url` (api/payment_intents/confirm: since API version 2023-08-16 a confirm without either fails);
  the PaymentMethod must be attached to that customer;
- POST /v1/payment_methods/{id}/attach: `customer` (api/payment_methods/attach);
- POST /v1/refunds: `payment_intent` or `charge` (api/refunds/create);
- GET /v1/events: `limit` 1..100, not both `starting_after` and `ending_before`, at most 20 `types`
  (api/events/list).
- POST /v1/billing_portal/sessions: `customer` is required and must exist (api/customer_portal/sessions/create);
  `return_url`, when given, an absolute http(s) URL.
- POST /v1/checkout/sessions (api/checkout/sessions/create): `mode` is required (payment, setup or
  subscription); with the default `ui_mode=hosted` a `success_url` is required, with `ui_mode=embedded` a
  `success_url`/`cancel_url` is refused and a `return_url` needed; payment mode needs `line_items`, each with a
  `price` or `price_data[currency]` + `price_data[unit_amount]` + `price_data[product_data][name]` and a
  `quantity`; setup mode takes no `line_items` and needs `currency` (Checkout's dynamic payment methods need it
  in setup mode: docs.stripe.com/payments/save-and-reuse?platform=checkout) unless `payment_method_types` is
  given; `expires_at` 30 minutes to 24 hours ahead; `customer` (our rule, as for PaymentIntents: the session's
  payment method must land on the customer's Stripe Customer).
- POST /v1/identity/verification_sessions: `type` (document or id_number) is required unless a
  `verification_flow` is given (api/identity/verification_sessions/create);
  `options[document][allowed_types]` only passport, id_card, driving_license.
- POST /v1/checkout/sessions/{id}/expire only for an open session, /v1/identity/verification_sessions/{id}/cancel
  only for one in requires_input (api/checkout/sessions/expire, api/identity/verification_sessions/cancel).
- Idempotency on those three creates: the same `Idempotency-Key` with the same parameters answers the first
  object again; with other parameters Stripe refuses it (400 `idempotency_error`; api/idempotent_requests).

Answers have the documented object shapes (the fields the SDK and our adapter read). Test behaviours:
PaymentMethod `pm_auth` needs authentication (a `card_error` with code `authentication_required`, as for an
off-session payment whose bank asks for 3-D Secure); `pm_declined` is declined (`insufficient_funds`);
`set_failure(status, type)` makes the next POST fail like Stripe (429 rate limit, 500 api_error);
`slow_next` carries out the next POST but answers only after that many seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CARD_LIKE = re.compile(r"\b\d{13,19}\b")
VERSION_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


class ContractError(Exception):
    pass


class StripeContract:
    def __init__(self, version: str):
        self.version = version
        self.violations: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        """Checkout, billing portal and identity sessions by id."""
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {}
        """Idempotency-Key → (path, parameters, object) of the hosted-page creates."""
        """Newest first, as Stripe lists them."""
        self.failure: tuple[int, str] | None = None
        self.slow_next = 0.0
        """Seconds the next POST's answer waits after it was carried out (a client that times out)."""
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        for name in ("pm_card", "pm_auth", "pm_declined", "pm_loose"):
            self.methods[name] = {"id": name, "object": "payment_method", "type": "card", "customer": None,
                                  "card": {"brand": "visa", "last4": "4242", "fingerprint": f"fp_{name}"}}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- test helpers -----------------------------------------------------------------------------------

    def start(self) -> StripeContract:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_failure(self, status: int, error_type: str) -> None:
        self.failure = (status, error_type)

    def add_event(self, kind: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
        event = {"id": f"evt_{next(self._ids):06d}", "object": "event", "type": kind, "api_version": self.version,
                 "created": created if created is not None else int(time.time()), "livemode": False,
                 "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None},
                 "data": {"object": obj}}
        with self._lock:
            self.events.insert(0, event)
        return event

    def complete_checkout(self, session_id: str, brand: str = "mastercard", last4: str = "4444") -> dict[str, Any]:
        """The customer finished Stripe's page: a payment session is paid (a succeeded PaymentIntent on its
        customer), a setup session saved a new card attached to its customer. Returns the completed session."""
        with self._lock:
            checkout = self.sessions[session_id]
            checkout["status"] = "complete"
            if checkout["mode"] == "payment":
                intent = {"id": self._new_id("pi"), "object": "payment_intent", "amount": checkout["amount_total"],
                          "currency": checkout["currency"], "customer": checkout["customer"], "status": "succeeded",
                          "metadata": dict(checkout["metadata"]), "latest_charge": self._new_id("ch")}
                self.intents[intent["id"]] = intent
                checkout["payment_intent"], checkout["payment_status"] = intent["id"], "paid"
            else:
                method = self._new_id("pm")
                self.methods[method] = {"id": method, "object": "payment_method", "type": "card",
                                        "customer": checkout["customer"],
                                        "card": {"brand": brand, "last4": last4, "exp_month": 8, "exp_year": 2031,
                                                 "fingerprint": f"fp_{method}"}}
                seti = {"id": self._new_id("seti"), "object": "setup_intent", "status": "succeeded",
                        "customer": checkout["customer"], "payment_method": method, "usage": "off_session",
                        "metadata": dict(checkout["metadata"])}
                self.setup_intents[seti["id"]] = seti
                checkout["setup_intent"] = seti["id"]
            return json.loads(json.dumps(checkout))

    def verification(self, session_id: str, status: str, reason: str | None = None) -> dict[str, Any]:
        """An identity session as Stripe reports it once checked (`verified`, or `requires_input` with a reason)."""
        with self._lock:
            found = self.sessions[session_id]
            found["status"] = status
            found["last_error"] = ({"code": "document_expired", "reason": reason} if status == "requires_input"
                                   else None)
            return json.loads(json.dumps(found))

    def posts(self, path_prefix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST" and r["path"].startswith(path_prefix)]

    # --- rules ------------------------------------------------------------------------------------------

    def _check_common(self, method: str, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        version = headers.get("stripe-version")
        if version != self.version or not VERSION_SHAPE.fullmatch(version or ""):
            raise ContractError(f"Stripe-Version {version!r}, expected the pinned {self.version!r}")
        if not (headers.get("authorization") or "").startswith("Bearer sk_"):
            raise ContractError("no secret key in Authorization")
        if method == "POST":
            key = headers.get("idempotency-key")
            if not key or len(key) > 255:
                raise ContractError("a POST without an Idempotency-Key (or one over 255 characters)")
        for name, value in params:
            if re.search(r"\[(number|cvc)\]", name) or CARD_LIKE.search(value):
                raise ContractError(f"raw card data in parameter {name}")

    def _customer(self, customer: str | None) -> dict[str, Any]:
        if not customer or customer not in self.customers:
            raise ContractError(f"no such customer: {customer!r}")
        return self.customers[customer]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _create_intent(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(form.get("amount", ""))
        except ValueError:
            raise ContractError("amount is required") from None
        if amount <= 0 or not re.fullmatch(r"[a-z]{3}", form.get("currency", "")):
            raise ContractError("amount > 0 and a lowercase currency are required")
        customer = self._customer(form.get("customer"))["id"]
        confirm, off_session = form.get("confirm") == "true", form.get("off_session")
        if off_session is not None and not confirm:
            raise ContractError("off_session can only be used with confirm=true")
        method = form.get("payment_method")
        if confirm and method and off_session != "true" and "return_url" not in form:
            raise ContractError("confirming with a saved payment method needs off_session=true or a return_url")
        pm = self.methods.get(method or "")
        if method and pm is None:
            raise ContractError(f"no such payment method: {method}")
        if pm is not None and pm["customer"] != customer:
            raise ContractError(f"payment method {method} is not attached to customer {customer}")
        capture = form.get("capture_method", "automatic_async")
        intent = {"id": self._new_id("pi"), "object": "payment_intent", "amount": amount,
                  "currency": form["currency"], "customer": customer, "payment_method": method,
                  "capture_method": capture, "status": "requires_confirmation", "last_payment_error": None,
                  "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                  "latest_charge": None}
        self.intents[intent["id"]] = intent
        if not confirm:
            return 200, intent
        if method == "pm_auth":
            intent["status"] = "requires_payment_method"
            error = {"type": "card_error", "code": "authentication_required", "decline_code": "authentication_required",
                     "message": "Your card was declined. This transaction requires authentication.",
                     "payment_intent": intent}
            intent["last_payment_error"] = {k: v for k, v in error.items() if k != "payment_intent"}
            return 402, {"error": error}
        if method == "pm_declined":
            intent["status"] = "requires_payment_method"
            error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                     "message": "Your card has insufficient funds.", "payment_intent": intent}
            return 402, {"error": error}
        intent["status"] = "requires_capture" if capture == "manual" else "succeeded"
        intent["latest_charge"] = self._new_id("ch")
        return 200, intent

    def _hosted(self, path: str, form: dict[str, str], key: str) -> tuple[int, dict[str, Any]] | None:
        """The hosted-page creates (checkout, billing portal, identity), replayed by Idempotency-Key."""
        makers = {"/v1/checkout/sessions": self._checkout, "/v1/billing_portal/sessions": self._portal,
                  "/v1/identity/verification_sessions": self._identity}
        if path not in makers:
            return None
        if key in self.replies:
            seen_path, seen_form, made = self.replies[key]
            if (seen_path, seen_form) != (path, form):
                return 400, {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can "
                                       "only be used with the same parameters they were first used with."}}
            return 200, made
        made = makers[path](form)
        self.sessions[made["id"]] = made
        self.replies[key] = (path, dict(form), made)
        return 200, made

    @staticmethod
    def _url(value: str | None, name: str) -> None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+\S*", value):
            raise ContractError(f"{name} must be an absolute URL, got {value!r}")

    def _portal(self, form: dict[str, str]) -> dict[str, Any]:
        customer = self._customer(form.get("customer"))["id"]
        self._url(form.get("return_url"), "return_url")
        ident = self._new_id("bps")
        return {"id": ident, "object": "billing_portal.session", "customer": customer, "created": int(time.time()),
                "livemode": False, "locale": None, "configuration": "bpc_default", "flow": None,
                "on_behalf_of": None, "return_url": form.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/test_{ident}"}

    def _checkout(self, form: dict[str, str]) -> dict[str, Any]:
        mode = form.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise ContractError("mode is required: payment, setup or subscription")
        ui_mode = form.get("ui_mode", "hosted")
        if ui_mode == "hosted" and not form.get("success_url"):
            raise ContractError("success_url is required for a hosted Checkout Session")
        if ui_mode == "embedded" and ("success_url" in form or "cancel_url" in form or "return_url" not in form):
            raise ContractError("an embedded Checkout Session takes return_url, not success_url/cancel_url")
        for name in ("success_url", "cancel_url"):
            self._url(form.get(name), name)
        customer = self._customer(form.get("customer"))["id"]
        lines = sorted({int(m[1]) for k in form if (m := re.match(r"line_items\[(\d+)\]", k))})
        total, currency = 0, form.get("currency")
        if mode == "payment":
            if not lines:
                raise ContractError("line_items is required in payment mode")
            for i in lines:
                line = {k[len(f"line_items[{i}]"):]: v for k, v in form.items() if k.startswith(f"line_items[{i}]")}
                quantity = int(line.get("[quantity]", "0") or 0)
                if quantity < 1:
                    raise ContractError(f"line_items[{i}][quantity] is required")
                if "[price]" not in line:
                    if not re.fullmatch(r"[a-z]{3}", line.get("[price_data][currency]", "")):
                        raise ContractError(f"line_items[{i}][price_data][currency]: a lowercase currency")
                    if not line.get("[price_data][product_data][name]") and not line.get("[price_data][product]"):
                        raise ContractError(f"line_items[{i}][price_data] needs product_data[name] or product")
                    unit = int(line.get("[price_data][unit_amount]", "0") or 0)
                    if unit <= 0:
                        raise ContractError(f"line_items[{i}][price_data][unit_amount] must be > 0")
                    total += unit * quantity
                    currency = line["[price_data][currency]"]
        elif mode == "setup":
            if lines:
                raise ContractError("line_items are not allowed in setup mode")
            if not currency and not any(k.startswith("payment_method_types") for k in form):
                raise ContractError("currency is required in setup mode (dynamic payment methods)")
            if currency and not re.fullmatch(r"[a-z]{3}", currency):
                raise ContractError("currency must be a lowercase three-letter code")
        now = int(time.time())
        expires = int(form.get("expires_at", now + 86_400))
        if not now + 1_800 - 5 <= expires <= now + 86_400:
            raise ContractError("expires_at must be 30 minutes to 24 hours after creation")
        ident = f"cs_test_{next(self._ids):06d}"
        return {"id": ident, "object": "checkout.session", "mode": mode, "ui_mode": ui_mode, "customer": customer,
                "status": "open", "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
                "amount_total": total if mode == "payment" else None, "currency": currency,
                "expires_at": expires, "created": now, "livemode": False,
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "payment_intent": None, "setup_intent": None, "success_url": form.get("success_url"),
                "cancel_url": form.get("cancel_url"), "url": f"https://checkout.stripe.com/c/pay/{ident}"}

    def _identity(self, form: dict[str, str]) -> dict[str, Any]:
        kind = form.get("type")
        if kind not in ("document", "id_number") and not form.get("verification_flow"):
            raise ContractError("type is required: document or id_number (or a verification_flow)")
        allowed = [v for k, v in form.items() if k.startswith("options[document][allowed_types]")]
        if any(v not in ("passport", "id_card", "driving_license") for v in allowed):
            raise ContractError(f"options[document][allowed_types]: passport, id_card, driving_license; got {allowed}")
        self._url(form.get("return_url"), "return_url")
        ident = self._new_id("vs")
        return {"id": ident, "object": "identity.verification_session", "type": kind, "status": "requires_input",
                "created": int(time.time()), "livemode": False, "last_error": None, "client_secret": f"{ident}_secret",
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "options": {"document": {"allowed_types": allowed,
                                         "require_matching_selfie": form.get(
                                             "options[document][require_matching_selfie]") == "true"}},
                "url": f"https://verify.stripe.com/start/test_{ident}", "verified_outputs": None}

    def _post(self, path: str, form: dict[str, str], key: str = "") -> tuple[int, dict[str, Any]]:
        if (hosted := self._hosted(path, form, key)) is not None:
            return hosted
        if m := re.fullmatch(r"/v1/(checkout/sessions|identity/verification_sessions)/(\w+)/(expire|cancel)", path):
            found = self.sessions.get(m[2])
            if found is None:
                return _missing("session", m[2])
            wanted = ("open", "expire") if m[1] == "checkout/sessions" else ("requires_input", "cancel")
            if m[3] != wanted[1] or found["status"] != wanted[0]:
                raise ContractError(f"{m[3]} of a session that is {found['status']}")
            found["status"] = "expired" if m[3] == "expire" else "canceled"
            return 200, found
        if path == "/v1/customers":
            customer: dict[str, Any] = {"id": self._new_id("cus"), "object": "customer", "metadata": {
                k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
            self.customers[customer["id"]] = customer
            return 200, customer
        if m := re.fullmatch(r"/v1/payment_methods/(\w+)/attach", path):
            pm = self.methods.get(m[1])
            if pm is None:
                return _missing("payment_method", m[1])
            pm["customer"] = self._customer(form.get("customer"))["id"]
            return 200, pm
        if path == "/v1/payment_intents":
            return self._create_intent(form)
        if m := re.fullmatch(r"/v1/payment_intents/(\w+)/(capture|cancel)", path):
            intent = self.intents.get(m[1])
            if intent is None:
                return _missing("payment_intent", m[1])
            if m[2] == "capture":
                if intent["status"] != "requires_capture":
                    raise ContractError(f"payment intent {m[1]} is {intent['status']}: nothing to capture")
                intent["status"] = "succeeded"
            else:
                intent["status"] = "canceled"
            return 200, intent
        if path == "/v1/refunds":
            target = form.get("payment_intent") or form.get("charge")
            if not target:
                raise ContractError("a refund needs payment_intent or charge")
            if target not in self.intents:
                return _missing("payment_intent", target)
            refund = {"id": self._new_id("re"), "object": "refund", "amount": int(form.get("amount", "0")),
                      "payment_intent": target, "status": "succeeded", "currency": self.intents[target]["currency"],
                      "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
            self.refunds[refund["id"]] = refund
            return 200, refund
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL (POST: {path})"}}

    def _get(self, path: str, params: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        if m := re.fullmatch(r"/v1/payment_methods/(\w+)", path):
            pm = self.methods.get(m[1])
            return (200, pm) if pm is not None else _missing("payment_method", m[1])
        if m := re.fullmatch(r"/v1/setup_intents/(\w+)", path):
            seti = self.setup_intents.get(m[1])
            return (200, seti) if seti is not None else _missing("setup_intent", m[1])
        if path == "/v1/events":
            query = dict(params)
            limit = int(query.get("limit", "10"))
            types = [v for k, v in params if k.startswith("types[")]
            if not 1 <= limit <= 100 or len(types) > 20:
                raise ContractError("limit 1..100 and at most 20 types")
            if "starting_after" in query and "ending_before" in query:
                raise ContractError("starting_after and ending_before cannot be used together")
            everything = list(self.events)
            ids = [e["id"] for e in everything]
            wanted = [i for i, e in enumerate(everything) if not types or e["type"] in types]
            if "ending_before" in query:
                if query["ending_before"] not in ids:
                    return _missing("event", query["ending_before"])
                newer = [everything[i] for i in wanted if i < ids.index(query["ending_before"])]
                page, has_more = newer[-limit:], len(newer) > limit
            else:
                start = ids.index(query["starting_after"]) + 1 if "starting_after" in query else 0
                rest = [everything[i] for i in wanted if i >= start]
                page, has_more = rest[:limit], len(rest) > limit
            return 200, {"object": "list", "url": "/v1/events", "has_more": has_more, "data": page}
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL (GET: {path})"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        contract = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{next(contract._ids)}")
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                params = parse_qsl(url.query if method == "GET" else raw, keep_blank_values=True)
                headers = {k.lower(): v for k, v in self.headers.items()}
                contract.requests.append({"method": method, "path": url.path, "params": dict(params),
                                          "headers": headers})
                try:
                    contract._check_common(method, headers, params)
                    if method == "POST" and contract.failure is not None:
                        status, kind = contract.failure
                        contract.failure = None
                        self._answer(status, {"error": {"type": kind, "message": f"simulated {kind}"}})
                        return
                    with contract._lock:
                        key = headers.get("idempotency-key", "")
                        status, body = (contract._post(url.path, dict(params), key) if method == "POST"
                                        else contract._get(url.path, params))
                except ContractError as exc:
                    contract.violations.append(f"{method} {url.path}: {exc}")
                    status, body = 400, {"error": {"type": "invalid_request_error", "message": f"contract: {exc}"}}
                if method == "POST" and contract.slow_next:
                    delay, contract.slow_next = contract.slow_next, 0.0
                    time.sleep(delay)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(status, body)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def _missing(kind: str, ident: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "id",
                           "message": f"No such {kind}: '{ident}'"}}
