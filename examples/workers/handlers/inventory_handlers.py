"""The reserve_inventory and send_confirmation steps (simulated), run concurrently."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict

from tasker_core import tracing

log = logging.getLogger("inventory")


class InventoryUnavailable(Exception):
    """The (simulated) inventory service is down."""


def reserve_inventory(payload: Dict[str, Any], fail: bool = False) -> Dict[str, Any]:
    reserved = []
    for item in payload["order"]["items"]:
        with tracing.span("reserve_sku", sku=item["sku"], qty=item["qty"]):
            time.sleep(0.003)
            if fail:
                raise InventoryUnavailable(f"cannot reserve {item['sku']}: inventory service unavailable (simulated)")
            log.info("reserved %s", item["sku"], extra={"sku": item["sku"], "warehouse": "AMS-1"})
            reserved.append(item["sku"])
    tracing.counter("inventory_reservations_total", len(reserved), warehouse="AMS-1")
    return {"reserved": reserved}


def send_confirmation(payload: Dict[str, Any], fail: bool = False) -> Dict[str, Any]:
    order = payload["order"]
    with tracing.span("render_email", template="order_confirmation"):
        time.sleep(0.002)
    with tracing.span("smtp_send", recipient=order["email"], smtp_password="hunter2"):
        time.sleep(0.005)
        if fail:
            raise ConnectionError("SMTP server refused the connection (simulated)")
        logging.getLogger("mailer").info("confirmation sent", extra={"order_id": order["order_id"], "auth_token": "t0k3n"})
    tracing.histogram("confirmation_send_ms", 5.0)
    return {"sent_to": order["email"]}


HANDLERS: Dict[str, Callable[..., Dict[str, Any]]] = {
    "ReserveInventoryHandler": reserve_inventory,
    "SendConfirmationHandler": send_confirmation,
}
