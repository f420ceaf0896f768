-- LiteLLM keeps its own database next to the gateway's (POSTGRES_DB=budget).
CREATE DATABASE litellm;
