"""A test kit for stores: run a journey through time on a temporary database with recording fakes.

```python
from aftercare.testing import JourneyKit, local

def test_the_setup_guide_goes_out_a_day_after_delivery(journey_kit: JourneyKit):   # the pytest plugin's fixture
    journey_kit.place_order()
    journey_kit.fulfil()
    journey_kit.deliver()
    journey_kit.advance(days=1, hours=1)
    journey_kit.assert_sent("setup_guide", channel="email", locale="en")
```
The plugin (entry point `pytest11`) gives `journey_kit`; override the `aftercare_journey` fixture in your
conftest to run your own journey. See docs/journeys.md.
"""

from aftercare.testing.kit import JourneyKit, Sent, local

__all__ = ["JourneyKit", "Sent", "local"]
