"""Post-mortems: at most three owned action items each, escalated or deprioritized after
two sprints."""
