"""The GraphQL documents reconcile sends: only W&B operations and fields (wandb-api.md §5)."""

from __future__ import annotations

PAGE_SIZE = 100

TRIGGER_FIELDS = """
fragment TriggerFields on Trigger {
  __typename id name description enabled
  scope {
    __typename
    ... on Project { id name }
    ... on ArtifactPortfolio { id name project { name } }
    ... on ArtifactSequence { id name project { name } }
    ... on Entity { id name entityType }
  }
  event: triggeringCondition {
    __typename
    ... on FilterEventTriggeringCondition { eventType filter }
  }
  action: triggeredAction {
    __typename
    ... on GenericWebhookTriggeredAction {
      integration { __typename ... on GenericWebhookIntegration { id name urlEndpoint } }
      requestPayload
    }
    ... on NotificationTriggeredAction {
      integration { __typename ... on SlackIntegration { id teamName channelName } }
      title message severity
    }
    ... on NoOpTriggeredAction { noOp }
  }
}
"""

VIEWER = "query Viewer { viewer { id username entity } }"

ENTITY_TRIGGERS = (
    """
query GetEntityAutomations($entity: String!, $cursor: String, $perPage: Int) {
  entity(name: $entity) {
    triggers(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { ...TriggerFields } }
    }
  }
}
"""
    + TRIGGER_FIELDS
)

SERVER_FEATURES = """
query ServerFeaturesQuery { serverInfo { features { name isEnabled } } }
"""

# Servers without QUERY_AUTOMATIONS_ON_ENTITY list triggers only per project.
ENTITY_TRIGGERS_LEGACY = (
    """
query GetEntityAutomationsLegacy($entity: String!, $cursor: String, $perPage: Int) {
  entity(name: $entity) {
    projects(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { __typename triggers { ...TriggerFields } } }
    }
  }
}
"""
    + TRIGGER_FIELDS
)

TRIGGER_BY_NAME = (
    """
query GetEntityAutomationByName($entity: String!, $filters: JSONString) {
  entity(name: $entity) {
    triggers(first: 1, filters: $filters) { edges { node { ...TriggerFields } } }
  }
}
"""
    + TRIGGER_FIELDS
)

INTEGRATIONS = """
query IntegrationsByEntity($entity: String!, $cursor: String, $perPage: Int) {
  entity(name: $entity) {
    integrations(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges {
        node {
          __typename
          ... on GenericWebhookIntegration { id name urlEndpoint secretRef accessTokenRef }
          ... on SlackIntegration { id teamName channelName }
        }
      }
    }
  }
}
"""

SECRETS = """
query EntitySecrets($entity: String!) {
  entity(name: $entity) { id secrets { name createdAt } }
}
"""

# The SDK's own query (`org_info_from_entity`), so registries resolve as `api.registry` does.
ORG_INFO_FROM_ENTITY = """
query FetchOrgInfoFromEntity($entity: String!) {
  entity(name: $entity) {
    organization { name orgEntity { id name } }
    user { organizations { name orgEntity { id name } } }
  }
}
"""

PROJECT = """
query ProjectCollections($entity: String!, $name: String!, $cursor: String, $perPage: Int) {
  project(name: $name, entityName: $entity) {
    id name
    artifactCollections(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { __typename id name } }
    }
  }
}
"""

CREATE_TRIGGER = (
    """
mutation CreateAutomation($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { ...TriggerFields } }
}
"""
    + TRIGGER_FIELDS
)

UPDATE_TRIGGER = (
    """
mutation UpdateAutomation($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) { trigger { ...TriggerFields } }
}
"""
    + TRIGGER_FIELDS
)

DELETE_TRIGGER = """
mutation DeleteAutomation($id: ID!) {
  deleteTrigger(input: {triggerID: $id}) { success }
}
"""

CREATE_WEBHOOK = """
mutation CreateGenericWebhookIntegration($input: CreateGenericWebhookIntegrationInput!) {
  createGenericWebhookIntegration(input: $input) {
    integration { __typename ... on GenericWebhookIntegration { id name urlEndpoint } }
  }
}
"""

UPDATE_WEBHOOK = """
mutation UpdateGenericWebhookIntegration($input: UpdateGenericWebhookIntegrationInput!) {
  updateGenericWebhookIntegration(input: $input) {
    integration { __typename ... on GenericWebhookIntegration { id name urlEndpoint } }
  }
}
"""

DELETE_INTEGRATION = """
mutation DeleteIntegration($id: ID!) {
  deleteIntegration(input: {id: $id}) { success }
}
"""

INSERT_SECRET = """
mutation InsertSecret($entity: String!, $name: String!, $value: String!) {
  insertSecret(input: {entityName: $entity, secretName: $name, secretValue: $value}) { success }
}
"""

DELETE_SECRET = """
mutation DeleteSecret($entity: String!, $name: String!) {
  deleteSecret(input: {entityName: $entity, secretName: $name}) { success }
}
"""
