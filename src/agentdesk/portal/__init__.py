"""The customer portal (`agentdesk portal`): the web pages behind the links sent to customers."""
