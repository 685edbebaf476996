"""How AgentDesk is deployed: private files, the service account, and `agentdesk doctor`."""
