"""Who may call the operator's and the fleet monitor's routes: guards on their controllers.

The app factory puts the secrets in ``app.state``; an unset secret lets nobody in. (A node
proves itself with its own credential: phoenix.config.service.NodeCalls.authenticate.)
"""

from __future__ import annotations

from phoenix.common.bearer import secret_guard
from phoenix.config.credentials import BadCredential

operator_only = secret_guard("operator_token", BadCredential)
monitor_only = secret_guard("monitor_token", BadCredential)
