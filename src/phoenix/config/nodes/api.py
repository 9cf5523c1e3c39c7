"""Enrollment over HTTP: challenge, register; the operator's keys and approvals; a sweep now.

Thin handlers: decode strictly, call the registrar or the sweeper, encode. Who may call a route
is its controller's guard (operator or monitor credential), not code inside the handler.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from phoenix.common.bodies import JSON_BODY_PROBLEMS, decode_json
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import json_body, problem_answers
from phoenix.config.credentials import BadCredential
from phoenix.config.fleet import InvalidNodeRequest, RegistrationBusy
from phoenix.config.guards import monitor_only, operator_only
from phoenix.config.nodes import service
from phoenix.config.nodes.attestation import AttestationInvalid, AttestationRefused
from phoenix.config.nodes.schemas import (
    Approval,
    Challenge,
    EnrollmentKeyRequest,
    EnrollmentKeys,
    RegisterRequest,
    Registration,
)
from phoenix.config.nodes.service import Registrar
from phoenix.config.nodes.sweeper import FleetSweeper
from phoenix.config.redis_errors import RedisUnavailable

STORES_AWAY = (DatabaseUnavailable, RedisUnavailable)


class EnrollmentController(Controller):
    path = "/v1/nodes"
    tags = ["nodes"]

    @post(
        "/challenge",
        status_code=201,
        summary="A single-use challenge to prove the node's key with",
        responses=problem_answers(*STORES_AWAY),
    )
    async def challenge(self, registrar: NamedDependency[Registrar]) -> Challenge:
        return await registrar.challenge()

    @post(
        "/register",
        status_code=201,
        summary="Enroll an exit node, or register an enrolled one again",
        operation_class=json_body(RegisterRequest, "The node's key, address, location, proof"),
        responses=problem_answers(
            *JSON_BODY_PROBLEMS,
            BadCredential,
            service.BadProof,
            AttestationInvalid,
            AttestationRefused,
            service.WrongLocation,
            service.NodeExists,
            service.NodeRetired,
            service.InstanceEnrolled,
            InvalidNodeRequest,
            service.RegistrationsCapped,
            RegistrationBusy,
            *STORES_AWAY,
        ),
    )
    async def register(
        self, request: Request[Any, Any, Any], registrar: NamedDependency[Registrar]
    ) -> Registration:
        body = await decode_json(request, RegisterRequest)
        return await registrar.register(request.headers.get("authorization"), body)


class OperatorController(Controller):
    path = "/v1"
    tags = ["operator"]
    guards = [operator_only]

    @post(
        "/admin/enrollment-keys",
        status_code=201,
        summary="Single-use enrollment keys for one location",
        operation_class=json_body(EnrollmentKeyRequest, "Location, lifetime and how many"),
        responses=problem_answers(BadCredential, *JSON_BODY_PROBLEMS, *STORES_AWAY),
    )
    async def enrollment_keys(
        self, request: Request[Any, Any, Any], registrar: NamedDependency[Registrar]
    ) -> EnrollmentKeys:
        return await registrar.mint(await decode_json(request, EnrollmentKeyRequest))

    @post(
        "/nodes/{node_id:uuid}/approve",
        status_code=200,
        summary="Let a pending node take users",
        responses=problem_answers(BadCredential, service.NotPending, *STORES_AWAY),
    )
    async def approve(
        self, node_id: FromPath[uuid.UUID], registrar: NamedDependency[Registrar]
    ) -> Approval:
        return await registrar.approve(node_id)


class SweepController(Controller):
    path = "/v1/admin/fleet"
    tags = ["monitor"]
    guards = [monitor_only]

    @post(
        "/sweep",
        status_code=200,
        summary="Run the fleet sweep now (it also runs on its own)",
        responses=problem_answers(BadCredential, *STORES_AWAY),
    )
    async def sweep(self, sweeper: NamedDependency[FleetSweeper]) -> dict[str, int | bool]:
        report = await sweeper.sweep()
        if report is None:
            return {"ran": False}
        return {"ran": True, **report.__dict__}
